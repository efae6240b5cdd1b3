"""CloudFront as the function reaches it, with a cause of failure a test can
turn on and fix, and invalidations that take their time: a proxy in front of
the local AWS's CloudFront.

While `deny` is set, every CreateInvalidation is answered as CloudFront
answers a caller its policies do not allow (HTTP 403, AccessDenied, in the
API's XML error shape), as when the function's role loses
cloudfront:CreateInvalidation (an explicit deny, a permissions boundary);
reads (ListInvalidations, GetInvalidation) still pass. Once it is cleared,
every request goes through unchanged. Why not an outage (nothing listening,
or 503s): the function's SDK retries those for up to 60 s per call (8
attempts, backoff up to 20 s, see src/cloudfront.rs), so each failing
invocation would take about a minute, and a queue's message five of them;
AccessDenied is not retried, and is fixed and redriven the same way.

While `hold` is set, each invalidation created stays InProgress (moto says
COMPLETED at once) in every answer that shows it, CreateInvalidation's,
GetInvalidation's and ListInvalidations', until the test releases it
(`release`), as CloudFront completes one after seconds or minutes. Who reads
CloudFront through the gate (the function, `wait`) sees it in progress.
"""

from __future__ import annotations

import http.client
import re
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

CREATE_INVALIDATION = re.compile(r"^/2020-05-31/distribution/([^/?]+)/invalidation/?$")
INVALIDATIONS = re.compile(r"^/2020-05-31/distribution/[^/?]+/invalidation")
# One invalidation in an answer: <Invalidation> (create, get) or <InvalidationSummary> (list).
ELEMENT = re.compile(rb"<(Invalidation|InvalidationSummary)(?:\s[^>]*)?>.*?</\1>", re.S)
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "host", "content-length"}


class CloudFrontGate:
    def __init__(self, upstream: str, account: str):
        target = urlsplit(upstream)
        self.host, self.port = target.hostname, target.port
        self.account = account
        self.deny = False
        self.denied = 0  # CreateInvalidation requests refused
        self.hold = False
        self.held: list[str] = []  # invalidations in progress, oldest first
        self._lock = threading.Lock()
        gate = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _relay(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                created = CREATE_INVALIDATION.match(urlsplit(self.path).path)
                if gate.deny and self.command == "POST" and created:
                    gate.denied += 1
                    return self._answer(403, [("Content-Type", "text/xml")], gate.access_denied(created.group(1)))
                headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
                connection = http.client.HTTPConnection(gate.host, gate.port, timeout=30)
                try:
                    connection.request(self.command, self.path, body=body, headers=headers)
                    answer = connection.getresponse()
                    data = answer.read()
                    kept = [(k, v) for k, v in answer.getheaders() if k.lower() not in HOP_BY_HOP]
                    if answer.status < 300 and INVALIDATIONS.match(urlsplit(self.path).path):
                        data = gate.in_progress(data, created=self.command == "POST")
                    self._answer(answer.status, kept, data)
                finally:
                    connection.close()

            def _answer(self, status: int, headers: list[tuple[str, str]], body: bytes):
                self.send_response(status)
                for key, value in headers:
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_PUT = do_DELETE = _relay

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.endpoint = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def in_progress(self, data: bytes, created: bool) -> bytes:
        """The answer with each held invalidation InProgress; a new one is
        held while `hold` is set."""

        def rewrite(element: re.Match) -> bytes:
            found = re.search(rb"<Id>([^<]+)</Id>", element.group(0))
            invalidation = found.group(1).decode() if found else ""
            with self._lock:
                if created and self.hold and invalidation not in self.held:
                    self.held.append(invalidation)
                held = invalidation in self.held
            if not held:
                return element.group(0)
            return re.sub(rb"<Status>[^<]*</Status>", b"<Status>InProgress</Status>", element.group(0), count=1)

        return ELEMENT.sub(rewrite, data)

    def release(self, invalidation: str | None = None) -> list[str]:
        """Completes one held invalidation (the oldest by default), or with
        "all" every one; returns their IDs."""
        with self._lock:
            if invalidation == "all":
                done, self.held = self.held, []
            else:
                done = [invalidation or self.held[0]]
                self.held.remove(done[0])
        return done

    def access_denied(self, distribution: str) -> bytes:
        return (
            '<?xml version="1.0"?>\n'
            '<ErrorResponse xmlns="http://cloudfront.amazonaws.com/doc/2020-05-31/">'
            "<Error><Type>Sender</Type><Code>AccessDenied</Code>"
            f"<Message>User: arn:aws:sts::{self.account}:assumed-role/InvalidatorRole/invalidator is not authorized "
            f"to perform: cloudfront:CreateInvalidation on resource: arn:aws:cloudfront::{self.account}:distribution/"
            f"{distribution} with an explicit deny in an identity-based policy</Message></Error>"
            f"<RequestId>{uuid.uuid4()}</RequestId></ErrorResponse>"
        ).encode()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
