"""The Lambda service, played: moto cannot run a function without Docker.

`Function` runs the built binary the way Lambda runs the deployed function:
under cargo-lambda's Runtime API emulator, with the environment moto's Lambda
reports for it (GetFunctionConfiguration), its memory size and timeout, and
AWS_ENDPOINT_URL pointing every AWS call at the local AWS. Two players deliver
the events moto produced, as Lambda would:

- `QueuePoller` is an event source mapping: the changes queue's in the queue
  wirings, the watch queue's in all (the function follows each invalidation
  from there). It reads its settings from GetEventSourceMapping (batch size,
  batching window, response types) and the queue's attributes (visibility
  timeout, redrive policy).
- `AsyncInvoker` is Lambda's asynchronous invocation, for bucket-to-function:
  the events come from moto's S3 through tools/local_aws.py's capture, and the
  retry and on-failure settings from the template's EventInvokeConfig (moto's
  CloudFormation skips that resource; deploy.py renders it from the translated
  template for the stack's parameters).

`LambdaApi` is Lambda's Invoke API for the function, for a user's own
`aws lambda invoke` (tools/redrive.sh).

What is simulated rather than waited for, each where it happens: the batching
window, the visibility timeout, Lambda's waits between retries.
"""

from __future__ import annotations

import json
import os
import queue
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

ROOT = Path(__file__).resolve().parents[2]
# Lambda refuses an invocation payload over 6 MB; the poller stops a batch there.
PAYLOAD_LIMIT = 6 * 1024 * 1024


def binary() -> Path:
    path = Path(os.environ.get("INVALIDATOR_BINARY") or ROOT / "target/debug/cloudfront-invalidator")
    if not path.is_file():
        raise RuntimeError(f"{path} does not exist: run `cargo build` first (`make stack-test` does)")
    return path


def cargo_lambda() -> str:
    beside = Path(sys.executable).parent / "cargo-lambda"
    found = str(beside) if beside.is_file() else shutil.which("cargo-lambda")
    if not found:
        raise RuntimeError(
            "cargo-lambda not found: run the stack tests through `make stack-test`, which installs it "
            "(pinned in tools/requirements-stack.txt) into .venv/stack"
        )
    return found


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, process: subprocess.Popen, what: str) -> None:
    deadline = time.monotonic() + 60
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if process.poll() is not None:
                raise RuntimeError(f"{what} exited ({process.returncode}) before listening on {port}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"{what} did not listen on {port} within 60 s")
            time.sleep(0.05)


class Invocation:
    def __init__(self, ok: bool, body: str, seconds: float):
        self.ok, self.body, self.seconds = ok, body, seconds

    def json(self):
        return json.loads(self.body)


class Function:
    """The deployed function, run by the emulator; its log goes to `log_path`.
    `extra_env` is added to what Lambda gives the process (a test's own
    stand-in endpoint, e.g. AWS_ENDPOINT_URL_CLOUDFRONT)."""

    def __init__(self, aws, stack, log_path: Path, extra_env: dict[str, str] | None = None):
        self.aws, self.stack, self.log_path = aws, stack, log_path
        self.extra_env = dict(extra_env or {})
        config = stack.function
        self.timeout = int(config["Timeout"])
        self.memory = int(config["MemorySize"])
        self.invocations = 0
        self.failures = 0
        self._count = threading.Lock()  # the async player's thread invokes too
        log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = open(log_path, "ab")
        self.port = free_port()
        # The emulator serves the one function named "_" (it has no other
        # name with --only-lambda-apis); --timeout is how long it lets an
        # invocation run, the function's Timeout.
        self._emulator = subprocess.Popen(
            [cargo_lambda(), "lambda", "watch", "--only-lambda-apis", "-A", "127.0.0.1", "-P", str(self.port)]
            + [f"--timeout={self.timeout}"],
            cwd=ROOT,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        wait_for_port(self.port, self._emulator, "cargo lambda watch")
        self._process: subprocess.Popen | None = None
        self._start()

    def environment(self) -> dict[str, str]:
        """What Lambda gives the function's process: the configured variables,
        the runtime's own, and (here) the local AWS's endpoint and test
        credentials."""
        config = self.stack.function
        env = {k: str(v) for k, v in config.get("Environment", {}).get("Variables", {}).items()}
        env |= self.aws.environment()
        env |= {
            "PATH": os.environ.get("PATH", ""),
            "AWS_LAMBDA_RUNTIME_API": f"http://127.0.0.1:{self.port}/.rt",
            "AWS_LAMBDA_FUNCTION_NAME": "_",
            "AWS_LAMBDA_FUNCTION_VERSION": config.get("Version", "$LATEST"),
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(self.memory),
            # A change waits 1 s to age before the function invalidates it
            # (MARGIN_SECONDS=0, plus the second kept for clocks), not the
            # deployed minute: the edges here read S3 once per pass, with no
            # fill in flight to outrun, and the minute is tested on virtual
            # time (tests/sim, tests/invocation.rs).
            "MARGIN_SECONDS": "0",
        }
        if self.stack.log_format:
            # Lambda sets this from the function's LoggingConfig.
            env["AWS_LAMBDA_LOG_FORMAT"] = self.stack.log_format
        return env | self.extra_env

    def _start(self) -> None:
        self._process = subprocess.Popen(
            [str(binary())],
            env=self.environment(),
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def invoke(self, payload: str) -> Invocation:
        """One synchronous invocation through the emulator, as `cargo lambda
        invoke` makes it. A process that died is started again, as Lambda
        starts a new execution environment."""
        if self._process.poll() is not None:
            self._log.write(f"--- function exited ({self._process.returncode}); starting a new one\n".encode())
            self._log.flush()
            self._start()
        with self._count:
            self.invocations += 1
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}/2015-03-31/functions/_/invocations",
            data=payload.encode(),
            method="POST",
            headers={"Content-Type": "application/json"},
        )
        start = time.monotonic()
        try:
            with urllib.request.urlopen(request, timeout=self.timeout + 10) as answer:
                return Invocation(True, answer.read().decode(), time.monotonic() - start)
        except urllib.error.HTTPError as error:
            failed = Invocation(False, error.read().decode(errors="replace"), time.monotonic() - start)
        except (TimeoutError, urllib.error.URLError) as error:
            failed = Invocation(False, f"no answer: {error}", time.monotonic() - start)
        with self._count:
            self.failures += 1
        if failed.seconds >= self.timeout:
            # Lambda ends an execution environment whose invocation timed out.
            self._log.write(f"--- invocation timed out after {failed.seconds:.0f} s; ending the process\n".encode())
            self._log.flush()
            self._end(self._process)
        return failed

    def log_tail(self, lines: int = 40) -> str:
        self._log.flush()
        text = self.log_path.read_text(errors="replace").splitlines()
        return "\n".join(text[-lines:])

    @staticmethod
    def _end(process: subprocess.Popen | None) -> None:
        if process and process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()

    def stop(self) -> None:
        self._end(self._process)
        self._end(self._emulator)
        self._log.close()


class QueuePoller:
    """One event source mapping of the stack, played against its queue: the
    changes queue of the queue wirings, and the watch queue of every wiring
    (the function follows each invalidation it created from there)."""

    def __init__(self, aws, mapping, function: Function):
        self.aws, self.sqs, self.function = aws, aws.client("sqs"), function
        self.name, self.queue_url = mapping.logical_id, mapping.queue_url
        settings = mapping.mapping
        assert settings["State"] in ("Enabled", "Creating"), settings
        self.batch_size = int(settings["BatchSize"])
        self.window = int(settings.get("MaximumBatchingWindowInSeconds", 0))
        self.report_failures = "ReportBatchItemFailures" in settings.get("FunctionResponseTypes", [])
        self.visibility_timeout = int(mapping.queue["VisibilityTimeout"])
        self.max_receives = json.loads(mapping.queue["RedrivePolicy"])["maxReceiveCount"]
        self.queue_arn = mapping.queue["QueueArn"]
        self.batches: list[int] = []  # messages per invocation
        self.redelivered = 0  # messages made visible again after a failure
        self.waited_out = 0  # delayed messages whose delay was let pass

    def _receive_batch(self) -> list[dict]:
        """Up to BatchSize messages, or what the queue holds when the batching
        window closes. The upload tool has finished before the poller runs, so
        every message of the deploy is already in the queue when the window
        (MaximumBatchingWindowInSeconds) would close: the window is not waited
        for, and an empty receive closes it. SQS itself moves a message that
        has been received maxReceiveCount times to the dead-letter queue on the
        next receive (moto does, as SQS)."""
        batch: list[dict] = []
        size = 0
        while len(batch) < self.batch_size:
            got = self.sqs.receive_message(
                QueueUrl=self.queue_url,
                MaxNumberOfMessages=min(10, self.batch_size - len(batch)),
                AttributeNames=["All"],
                MessageAttributeNames=["All"],
                WaitTimeSeconds=0,
            ).get("Messages", [])
            if not got:
                break
            for i, message in enumerate(got):
                record = self._record(message)
                size += len(json.dumps(record))
                if batch and size > PAYLOAD_LIMIT:
                    # Does not fit this invocation: back to the queue for the next.
                    self._make_visible(got[i:])
                    return batch
                batch.append(record)
        return batch

    def _after_delays(self) -> list[dict]:
        """When only delayed messages are left (the function sends each new
        invalidation to its watch queue with a 60 s delay), the delay is let
        pass at once instead of waited for."""
        waited = self.aws.let_delays_pass(self.queue_url)
        self.waited_out += waited
        return self._receive_batch() if waited else []

    def _record(self, message: dict) -> dict:
        """The SQS event record Lambda builds from a received message."""
        return {
            "messageId": message["MessageId"],
            "receiptHandle": message["ReceiptHandle"],
            "body": message["Body"],
            "attributes": message.get("Attributes", {}),
            "messageAttributes": message.get("MessageAttributes", {}),
            "md5OfBody": message.get("MD5OfBody", ""),
            "eventSource": "aws:sqs",
            "eventSourceARN": self.queue_arn,
            "awsRegion": self.queue_arn.split(":")[3],
        }

    def _make_visible(self, messages: list[dict]) -> None:
        for m in messages:
            self.sqs.change_message_visibility(
                QueueUrl=self.queue_url, ReceiptHandle=m["ReceiptHandle"], VisibilityTimeout=0
            )

    def _release(self, records: list[dict]) -> None:
        """Lets the visibility timeout (VisibilityTimeout, 23 minutes with the
        template's settings) pass at once for the messages of a batch that
        failed: they are visible again for the next receive, as they would be
        after it, with their receive count kept."""
        self._make_visible([{"ReceiptHandle": r["receiptHandle"]} for r in records])
        self.redelivered += len(records)

    def drain(self) -> int:
        """Invokes the function with batches until the queue is empty; returns
        how many. One batch at a time: the mapping's MaximumConcurrency (2)
        allows two at once, which changes nothing the tests measure."""
        invoked = 0
        while batch := self._receive_batch() or self._after_delays():
            invoked += 1
            self.batches.append(len(batch))
            result = self.function.invoke(json.dumps({"Records": batch}))
            if not result.ok:
                failed = {r["messageId"] for r in batch}
            elif self.report_failures:
                failed = {f["itemIdentifier"] for f in result.json().get("batchItemFailures", [])}
            else:
                failed = set()
            done = [r for r in batch if r["messageId"] not in failed]
            for i in range(0, len(done), 10):
                answer = self.sqs.delete_message_batch(
                    QueueUrl=self.queue_url,
                    Entries=[{"Id": str(n), "ReceiptHandle": r["receiptHandle"]} for n, r in enumerate(done[i : i + 10])],
                )
                assert not answer.get("Failed"), answer
            self._release([r for r in batch if r["messageId"] in failed])
        return invoked


class AsyncInvoker:
    """Lambda's asynchronous invocation of the function, for the events moto's
    S3 addressed to it: up to 1 + MaximumRetryAttempts attempts, then a record
    to the OnFailure destination (an SQS queue), in the shape Lambda sends.

    As with S3 and Lambda, delivery runs while the upload tool is still
    uploading (a thread takes each event as moto's S3 sends it); `drain`
    waits until every event sent so far has been delivered."""

    def __init__(self, aws, stack, function: Function, captured):
        self.sqs, self.stack, self.function, self.captured = aws.client("sqs"), stack, function, captured
        config = stack.invoke_config
        self.retries = int(config["MaximumRetryAttempts"])
        self.max_age = int(config["MaximumEventAgeInSeconds"])
        self.on_failure = config["DestinationConfig"]["OnFailure"]["Destination"]
        self.events = 0
        self.sent_to_destination = 0
        self._error: BaseException | None = None
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._deliver_forever, daemon=True)
        self._thread.start()

    def _deliver_forever(self) -> None:
        while not self._stopping.is_set():
            try:
                event = self.captured.get(timeout=0.05)
            except queue.Empty:
                continue
            try:
                self._deliver(event)
            except BaseException as error:  # re-raised by drain()
                self._error = self._error or error
            finally:
                self.captured.task_done()

    def _deliver(self, event) -> None:
        """Lambda waits about 1 and then 2 minutes between attempts; here the
        next attempt follows at once (so the event's age,
        MaximumEventAgeInSeconds, is never reached)."""
        arn = self.stack.function["FunctionArn"]
        assert event.function_arn == arn, f"S3 notified {event.function_arn}, the stack's function is {arn}"
        self.events += 1
        for attempt in range(1, self.retries + 2):
            result = self.function.invoke(event.payload)
            if result.ok:
                return
        self._send_failure_record(event.payload, result, attempt)

    def drain(self) -> None:
        """Returns once every event moto's S3 has sent so far is delivered."""
        self.captured.join()
        if self._error:
            raise self._error

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join()

    def _send_failure_record(self, payload: str, result: Invocation, attempts: int) -> None:
        assert self.on_failure.startswith("arn:aws:sqs:"), self.on_failure
        queue_url = self.sqs.get_queue_url(QueueName=self.on_failure.rsplit(":", 1)[1])["QueueUrl"]
        record = {
            "version": "1.0",
            "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime()),
            "requestContext": {
                "requestId": str(uuid.uuid4()),
                "functionArn": f"{self.stack.function['FunctionArn']}:$LATEST",
                "condition": "RetriesExhausted",
                "approximateInvokeCount": attempts,
            },
            "requestPayload": json.loads(payload),
            "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
            "responsePayload": _json_or_text(result.body),
        }
        self.sqs.send_message(QueueUrl=queue_url, MessageBody=json.dumps(record))
        self.sent_to_destination += 1


def _json_or_text(body: str):
    try:
        return json.loads(body)
    except ValueError:
        return body


class LambdaApi:
    """Lambda's Invoke API (`POST /2015-03-31/functions/NAME/invocations`) for
    the played function, on a port of 127.0.0.1: what `aws lambda invoke`
    reaches with AWS_ENDPOINT_URL_LAMBDA pointing here. cargo-lambda's
    emulator cannot be that endpoint itself: it serves the function under the
    name "_" only (a real name or ARN gets 404 "Missing function"), and answers
    a function error with HTTP 500, which the AWS CLI reports as a failed call.
    Lambda takes the function's name or ARN (with `:$LATEST` or a Qualifier
    of $LATEST), and answers 200 with `X-Amz-Function-Error: Unhandled` and the
    error as the payload. This front does so, and runs each invocation through
    `Function.invoke`, as the players do. Synchronous invocations only
    (RequestResponse, the CLI's default); other names get Lambda's 404
    ResourceNotFoundException."""

    ROUTE = re.compile(r"^/2015-03-31/functions/([^/]+)/invocations$")

    def __init__(self, stack, function):
        """`function` returns the Function to invoke (Run.use may swap it)."""
        config = stack.function
        self.names = {config["FunctionName"], config["FunctionArn"]}
        self.function = function
        self.invocations = 0
        api = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # the test's output stays quiet
                pass

            def do_POST(self):
                url = urlsplit(self.path)
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                route = api.ROUTE.match(url.path)
                name = unquote(route.group(1)) if route else ""
                qualifier = parse_qs(url.query).get("Qualifier", ["$LATEST"])[0]
                if name.endswith(":$LATEST"):
                    name = name[: -len(":$LATEST")]
                if not route or name not in api.names or qualifier != "$LATEST":
                    return self._error(404, "ResourceNotFoundException", f"Function not found: {name}")
                if self.headers.get("X-Amz-Invocation-Type", "RequestResponse") != "RequestResponse":
                    return self._error(400, "InvalidParameterValueException",
                                       "the played Lambda service takes synchronous invocations only")
                api.invocations += 1
                result = api.function().invoke(body.decode())
                headers = {"X-Amz-Executed-Version": "$LATEST"}
                payload = result.body
                if not result.ok:
                    headers["X-Amz-Function-Error"] = "Unhandled"
                    try:
                        json.loads(payload)
                    except ValueError:  # no answer: the invocation timed out
                        payload = json.dumps({"errorType": "Sandbox.Timedout", "errorMessage": payload})
                self._send(200, headers, payload.encode())

            def _error(self, status: int, kind: str, message: str):
                body = json.dumps({"Type": "User", "Message": message}).encode()
                self._send(status, {"x-amzn-ErrorType": kind}, body)

            def _send(self, status: int, headers: dict[str, str], body: bytes):
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.endpoint = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
