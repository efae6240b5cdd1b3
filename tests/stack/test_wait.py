"""`cloudfront-invalidator-wait` against a deployed stack, as a pipeline runs it
after its upload: with CloudFront holding each invalidation in progress until
the test completes it (tests/stack/gate.py), it says fresh only once the
modelled edges serve no stale URL; a change that reaches the dead-letter queue
ends it at once; a stack that does not exist is one line.

The worst case of SQS's approximate counts is played too: the changes queue's
counts read 0 for the first seconds although its messages wait (as SQS may,
for up to a minute after the producers stop), and `wait` must not take that
for an empty queue. The times are short here (`--settle 6s --every 0.5s`,
counts late by 4 s) where AWS's are minutes; the rules are the same.
"""

from __future__ import annotations

import os
import re
import subprocess
import time
from contextlib import contextmanager
from pathlib import Path

import pytest

import local_aws
from gate import CloudFrontGate
from player import AsyncInvoker, QueuePoller
from scenario import DJANGO_PARAMS, Run, count_stale
from uploads import DjangoSite

ROOT = Path(__file__).resolve().parents[2]
SETTLE = 6.0  # --settle: an empty queue counts from then on
LAG = 4.0  # how long the counts read 0 after the last message was sent
EVERY = 0.5  # --every: one look, and one progress line


def binary() -> Path:
    path = Path(os.environ.get("WAIT_BINARY") or ROOT / "target/debug/cloudfront-invalidator-wait")
    if not path.is_file():
        raise RuntimeError(f"{path} does not exist: run `cargo build --features wait` first (`make stack-test` does)")
    return path


class Wait:
    """The command in the background, with only the local AWS's settings (and
    CloudFront through the gate when given), its output in `work`."""

    def __init__(self, aws, stack: str, work: Path, name: str, gate: CloudFrontGate | None = None, *args: str):
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")} | aws.environment() | {
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            "HOME": str(work),
        }
        if gate:
            env["AWS_ENDPOINT_URL_CLOUDFRONT"] = gate.endpoint
        work.mkdir(parents=True, exist_ok=True)
        self.stdout_path, self.stderr_path = work / f"{name}.out", work / f"{name}.err"
        self.command = [str(binary()), "--stack", stack, *args]
        self.started = time.monotonic()
        with open(self.stdout_path, "w") as out, open(self.stderr_path, "w") as err:
            self.process = subprocess.Popen(self.command, env=env, stdout=out, stderr=err)

    def running(self) -> bool:
        return self.process.poll() is None

    def finish(self, within: float) -> int:
        try:
            return self.process.wait(timeout=within)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise AssertionError(f"wait still running after {within} s:\n{self.output()}")

    def output(self) -> str:
        return self.stdout_path.read_text() + self.stderr_path.read_text()

    def stderr(self) -> str:
        return self.stderr_path.read_text()

    def stop(self) -> None:
        if self.running():
            self.process.kill()
            self.process.wait()


@contextmanager
def counts_late_by(seconds: float):
    """moto's SQS, with each queue's ApproximateNumberOf* reading 0 until
    `seconds` after its last message was sent: the worst SQS's eventual
    consistency allows within that time. Only the counts lie; receiving is
    unchanged."""
    from moto.sqs.models import Queue

    names = [
        "approximate_number_of_messages",
        "approximate_number_of_messages_not_visible",
        "approximate_number_of_messages_delayed",
    ]
    saved = {name: getattr(Queue, name) for name in names}

    def late(name):
        def count(queue):
            newest = max((m.sent_timestamp or 0 for m in queue._messages), default=0)
            return 0 if time.time() * 1000 < newest + seconds * 1000 else saved[name].fget(queue)

        return property(count)

    try:
        for name in names:
            setattr(Queue, name, late(name))
        yield
    finally:
        for name, prop in saved.items():
            setattr(Queue, name, prop)


def sleep_until(wait: Wait, seconds: float) -> None:
    time.sleep(max(0.0, wait.started + seconds - time.monotonic()))


def apply_completed(run: Run, done: list[str]) -> None:
    """The edges purge what a completed invalidation names (while it is in
    progress, the model assumes the worst: no edge has purged yet)."""
    cloudfront = run.aws.client("cloudfront")
    (distribution,) = run.ids
    for invalidation in done:
        paths = cloudfront.get_invalidation(DistributionId=distribution, Id=invalidation)["Invalidation"][
            "InvalidationBatch"
        ]["Paths"].get("Items", [])
        for edge in run.edges[distribution]:
            edge.invalidate(paths)


def stale_now(run: Run) -> int:
    with_function, _ = run.viewers()
    return count_stale(with_function)


def test_wait_says_fresh_only_once_no_viewer_gets_a_stale_object(aws, work_root):
    """bucket-to-queue, a Django site's collectstatic in batches of 100 (one
    invalidation each), CloudFront holding them in progress; then, on the same
    stack, a change CloudFront refuses until it lands in the dead-letter queue."""
    work = work_root / "wait-bucket-to-queue"
    gate = CloudFrontGate(aws.endpoint, local_aws.ACCOUNT)
    params = dict(DJANGO_PARAMS) | {"BatchSize": "100", "BatchWindowSeconds": "1"}
    run = Run(aws, work, "wait", "bucket-to-queue", discover=False, params=params, origin_paths=("",),
              function_env={"AWS_ENDPOINT_URL_CLOUDFRONT": gate.endpoint})
    watcher = next(p for p in run.pollers if p is not run.player)
    waits: list[Wait] = []
    try:
        site = DjangoSite(work)
        site.collectstatic(aws, run.bucket)
        run.deliver()
        run.viewers()  # every edge caches the first version
        assert stale_now(run) == 0

        gate.hold = True
        site.edit()
        with counts_late_by(LAG):
            site.collectstatic(aws, run.bucket)  # the pipeline's upload
            wait = Wait(aws, run.stack.name, work, "wait-fresh", gate, "--settle", f"{SETTLE}s", "--every",
                        f"{EVERY}s", "--timeout", "120s")
            waits.append(wait)
            # The counts read 0, the queue holds the deploy's messages, and
            # nothing took them yet: not fresh, before and after the settle time.
            sleep_until(wait, LAG - 1)
            assert wait.running(), wait.output()
            assert stale_now(run) > 0
            sleep_until(wait, SETTLE + 2)
            assert wait.running(), wait.output()
            assert re.search(r"changes: [1-9][0-9]* waiting", wait.output()), wait.output()

            run.player.drain()  # the function takes the queue: invalidations created, held in progress
            assert len(gate.held) >= 2, gate.held
            time.sleep(4 * EVERY)
            assert wait.running(), wait.output()
            assert "invalidation(s) in progress" in wait.output(), wait.output()
            # CloudFront completes them one by one; the edges purge each as it does.
            while gate.held:
                assert wait.running(), f"fresh with {len(gate.held)} invalidation(s) in progress:\n{wait.output()}"
                apply_completed(run, gate.release())
                stale = stale_now(run)
                time.sleep(3 * EVERY)
                if gate.held or stale:
                    assert wait.running(), f"fresh with {stale} stale responses:\n{wait.output()}"
            assert stale == 0
            assert wait.finish(within=10 * EVERY) == 0, wait.output()
        out = wait.output()
        assert out.splitlines()[-1].startswith("fresh: every change up to the start is invalidated"), out
        assert wait.stderr() == "", out
        watcher.drain()  # the function follows its invalidations to Completed
        run.check()

        # A change CloudFront refuses, and SQS moves to the dead-letter queue
        # after its receives: `wait` stops at the next look, in one line.
        wait = Wait(aws, run.stack.name, work, "wait-dead-letter", gate, "--settle", f"{SETTLE}s", "--every",
                    f"{EVERY}s", "--timeout", "60s")
        waits.append(wait)
        gate.deny = True
        aws.client("s3").put_object(Bucket=run.bucket, Key="css/site.css", Body=b"body { color: teal }")
        run.player.drain()
        moved = time.monotonic()
        assert wait.finish(within=10 * EVERY) == 1, wait.output()
        stopped = time.monotonic() - moved
        (line,) = wait.stderr().splitlines()
        assert line.startswith("not fresh: a change reached the dead-letter queue: css/site.css, reported by S3 at"), line
        assert f"make redrive STACK={run.stack.name}" in line, line
        assert stopped < 4 * EVERY, f"{stopped:.1f} s after the move"
    except BaseException:
        for wait in waits:
            print(f"--- {' '.join(wait.command)}:\n{wait.output()}")
        raise
    finally:
        for wait in waits:
            wait.stop()
        run.stop()
        gate.stop()


@pytest.mark.parametrize("wiring", ["bucket-to-function", "existing-bucket"])
def test_wait_follows_every_wiring(aws, work_root, wiring):
    """Three uploads, one invalidation held in progress: not fresh until
    CloudFront completes it. Without a queue (bucket-to-function) what the
    function made within the settle time is followed."""
    work = work_root / f"wait-{wiring}"
    gate = CloudFrontGate(aws.endpoint, local_aws.ACCOUNT)
    run = Run(aws, work, "wait", wiring, discover=True, origin_paths=("",),
              function_env={"AWS_ENDPOINT_URL_CLOUDFRONT": gate.endpoint})
    watcher = next(p for p in run.pollers if p is not run.player)
    waits: list[Wait] = []
    try:
        s3 = aws.client("s3")
        gate.hold = True
        for key in ["index.html", "css/site.css", "img/logo.png"]:
            s3.put_object(Bucket=run.bucket, Key=key, Body=key.encode())
        wait = Wait(aws, run.stack.name, work, "wait", gate, "--settle", "3s", "--every", f"{EVERY}s", "--timeout", "60s")
        # The same, with too little time: it says what is still pending.
        hurried = Wait(aws, run.stack.name, work, "wait-timeout", gate, "--settle", "3s", "--every", f"{EVERY}s",
                       "--timeout", "2s")
        waits += [wait, hurried]
        if isinstance(run.player, AsyncInvoker):
            run.player.drain()
        else:
            assert isinstance(run.player, QueuePoller)
            time.sleep(1)
            run.player.drain()
        sleep_until(wait, 3 + 4 * EVERY)
        assert gate.held and wait.running(), wait.output()
        assert hurried.finish(within=1) == 1, hurried.output()
        (line,) = hurried.stderr().splitlines()
        assert re.fullmatch(r"not fresh after 2s: changes: .*in progress.*", line), line
        gate.release("all")
        assert wait.finish(within=10 * EVERY) == 0, wait.output()
        assert f"({wiring}; distributions serving {run.bucket}: {run.ids[0]})" in wait.output(), wait.output()
        watcher.drain()
        run.check()
    except BaseException:
        for wait in waits:
            print(f"--- {' '.join(wait.command)}:\n{wait.output()}")
        raise
    finally:
        for wait in waits:
            wait.stop()
        run.stop()
        gate.stop()


def test_a_stack_that_does_not_exist_is_one_line(aws, work_root):
    wait = Wait(aws, "no-such-stack", work_root / "wait-missing", "wait")
    assert wait.finish(within=30) == 2, wait.output()
    assert wait.stdout_path.read_text() == ""
    (line,) = wait.stderr().splitlines()
    assert line == (
        'cloudfront-invalidator-wait: no stack named "no-such-stack" in us-east-1: check --stack, and the '
        "account and region the credentials reach (AWS_PROFILE, AWS_REGION)"
    ), line
    # The same through `make wait`, as the docs show it (the build is the tests'
    # own: make stack-test made it, so cargo only checks it is current).
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "MAKE"))} | aws.environment() | {
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    }
    done = subprocess.run(["make", "--no-print-directory", "wait", "STACK=no-such-stack"], cwd=ROOT, env=env,
                          capture_output=True, text=True)
    assert done.returncode != 0
    assert done.stdout == "", done.stdout
    assert done.stderr.splitlines()[0] == line, done.stderr
