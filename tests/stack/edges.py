"""CloudFront's edge caches, modelled: what viewers get after a deploy.

An edge location is many cache servers; each fills its own copy of a URL from
the origin the first time a viewer asks it for that URL, and keeps it (the
template's users cache for a day or more) until an invalidation removes it.
Nothing copies a new version between servers. `Edge` is one such server of
one distribution. The assumptions, each a choice where AWS does not say more:

- The cache key is the URL's path exactly as the viewer's browser sent it,
  and its query string too where the distribution's cache key holds query
  strings (its default behavior's cache policy keys on them: see
  `deploy.origin_of`); there viewers ask for each URL also with `?v=1` (cache
  busting) and `?utm_source=x` (a campaign link), each cached apart, and the
  query string does not change the object the origin serves. Elsewhere the
  query string is not part of the key, and the site's links carry none.
  `viewer_url` encodes an S3 key the
  way a page links it and a browser sends it: like JavaScript's encodeURI
  (non-ASCII as UTF-8 %XX with uppercase hex, space, `"` `%` `<` `>` `[` `\\`
  `]` `^` `` ` `` `{` `|` `}` encoded), and `#` and `?` encoded too, since a
  link to such a file must escape them or the browser cuts the URL there.
  Everything else stays literal, `~` `+` `=` `&` `;` `@` `,` `!` `*` `'` `(`
  `)` included: browsers do not encode `~`.
- An invalidation path matches a cached URL when the two are the same string,
  byte for byte: CloudFront is not assumed to decode or normalise
  percent-escapes on either side (so `/%7Ealice/x` does not match a cached
  `/~alice/x`, and `%2b` is not `%2B`), and the match is case-sensitive. A
  path ending in `*` matches every cached URL that starts with the part
  before the `*`. So `/app.js` leaves `/app.js?v=1` cached, as CloudFront's
  guide says, and `/app.js*` removes both.
- The origin is the distribution's S3 origin read from CloudFront (bucket and
  origin path). A URL is fetched as the key it decodes to (percent-escapes
  decoded as UTF-8, the way S3 reads a request path) under the origin path.
  `/` is served by the default root object; `/dir/` and `/dir` by
  `dir/index.html` when there is no object `dir` (a site serves its index
  documents so, e.g. with a CloudFront Function or the website endpoint).
- A response is the object's ETag, or "missing" (S3 answers 403 for a key
  that does not exist in a private bucket). Errors are not cached: CloudFront
  keeps them 10 s by default, less than the time between deploys here.
- A response is stale when it differs from what the origin holds at that
  moment. Within one pass of viewers nothing is uploaded, so the origin is
  read once per pass (`Origin.new_pass`, a listing with every ETag).
- Invalidations are the ones CloudFront recorded (moto's ListInvalidations
  and GetInvalidation). moto creates a second invalidation for a reused
  CallerReference; CloudFront returns the first one instead, which removes
  nothing new, so a repeated reference is applied once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import unquote

# encodeURI's literal set, minus '#' and '?' (see the module's doc).
_LITERAL = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789;,/:@&=+$-_.!~*'()")
MISSING = "missing"
# The query strings viewers add where the cache key holds them.
QUERIES = ("?v=1", "?utm_source=x")


def viewer_url(key: str) -> str:
    """The path a browser requests for the object at `key` (relative to the
    distribution's origin path)."""
    return "/" + "".join(c if c in _LITERAL else "".join(f"%{b:02X}" for b in c.encode()) for c in key)


def urls_for(keys: set[str], index_document: str) -> set[str]:
    """Every URL of a site whose objects are `keys` (under the origin path):
    each object's, and for an index document the directory's two forms."""
    urls = {viewer_url(k) for k in keys}
    for k in keys:
        if index_document and (k == index_document or k.endswith("/" + index_document)):
            directory = viewer_url(k[: -len(index_document)])  # "/" or "/dir/"
            urls |= {directory, directory.rstrip("/") or "/"}
    return urls


def requested(url: str, query_strings: bool) -> list[str]:
    """What viewers ask for at a URL: itself, and where the cache key holds
    query strings, the URL with each of `QUERIES`."""
    return [url] + ([url + q for q in QUERIES] if query_strings else [])


class Origin:
    """The distribution's S3 origin: a bucket under an origin path, and
    whether the distribution's cache key holds query strings."""

    def __init__(self, s3, bucket: str, origin_path: str, default_root_object: str, index_document: str,
                 query_strings: bool = False):
        self.s3, self.bucket = s3, bucket
        self.prefix = origin_path.strip("/") + "/" if origin_path.strip("/") else ""
        self.root, self.index = default_root_object, index_document
        self.query_strings = query_strings
        self._pass: dict[str, str] = {}

    def new_pass(self) -> None:
        """Reads what the origin holds now: one listing of the bucket under
        the origin path gives every object's ETag, as GetObject would."""
        self._pass = {}
        for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=self.prefix):
            self._pass |= {o["Key"]: o["ETag"] for o in page.get("Contents", [])}

    def _etag(self, key: str) -> str:
        return self._pass.get(key, MISSING)

    def keys(self) -> set[str]:
        """The keys under the origin path, relative to it, as of the last pass."""
        return {k[len(self.prefix) :] for k in self._pass}

    def get(self, url: str) -> tuple[str, str]:
        """(the key served, its ETag or MISSING) for a viewer's URL; its query
        string does not change the object."""
        path = unquote(url.split("?", 1)[0], errors="strict")[1:]
        if path == "":
            key = self.prefix + self.root
        elif path.endswith("/"):
            key = self.prefix + path + self.index
        else:
            key = self.prefix + path
            if self.index and self._etag(key) == MISSING:
                index = key + "/" + self.index
                if self._etag(index) != MISSING:
                    key = index
        return key, self._etag(key)


@dataclass
class Response:
    url: str
    edge: str
    key: str
    got: str  # ETag served, or MISSING
    fresh: str  # what the origin holds now
    from_cache: bool

    @property
    def stale(self) -> bool:
        return self.got != self.fresh


@dataclass
class Edge:
    """One cache server of one distribution."""

    name: str
    origin: Origin
    cache: dict[str, tuple[str, str]] = field(default_factory=dict)  # url -> (key, etag)

    def request(self, url: str) -> Response:
        key, fresh = self.origin.get(url)
        cached = url if getattr(self.origin, "query_strings", False) else url.split("?", 1)[0]
        if cached in self.cache:
            cached_key, etag = self.cache[cached]
            return Response(url, self.name, cached_key, etag, fresh, True)
        if fresh != MISSING:
            self.cache[cached] = (key, fresh)
        return Response(url, self.name, key, fresh, fresh, False)

    def invalidate(self, paths: list[str]) -> list[str]:
        """Removes the cached URLs the paths match; returns them."""
        removed = []
        for url in list(self.cache):
            if any(url.startswith(p[:-1]) if p.endswith("*") else url == p for p in paths):
                del self.cache[url]
                removed.append(url)
        return removed


@dataclass
class InvalidationLog:
    """What CloudFront recorded for one distribution, read incrementally."""

    cloudfront: object
    distribution_id: str
    seen: set[str] = field(default_factory=set)
    references: set[str] = field(default_factory=set)
    requests: int = 0  # invalidations CloudFront would have created
    paths: int = 0  # paths billed
    repeated: int = 0  # reused caller references: CloudFront returns the first
    batches: list[list[str]] = field(default_factory=list)

    def new(self) -> list[list[str]]:
        """The paths of each invalidation recorded since the last call."""
        listed = []
        marker = None
        while True:
            page = self.cloudfront.list_invalidations(
                DistributionId=self.distribution_id, MaxItems="1000", **({"Marker": marker} if marker else {})
            )["InvalidationList"]
            listed += [item["Id"] for item in page.get("Items", [])]
            if not page.get("IsTruncated"):
                break
            marker = page["NextMarker"]
        fresh = []
        for invalidation_id in listed:
            if invalidation_id in self.seen:
                continue
            self.seen.add(invalidation_id)
            batch = self.cloudfront.get_invalidation(DistributionId=self.distribution_id, Id=invalidation_id)[
                "Invalidation"
            ]["InvalidationBatch"]
            if batch["CallerReference"] in self.references:
                self.repeated += 1
                continue
            self.references.add(batch["CallerReference"])
            paths = batch["Paths"].get("Items", [])
            self.requests += 1
            self.paths += len(paths)
            self.batches.append(paths)
            fresh.append(paths)
        return fresh


class EdgeServer:
    """A distribution's domain as a viewer's browser reaches it, over HTTP on
    a port of 127.0.0.1: one cache server of the model above (`Edge`), for
    tools/smoke.sh (its SMOKE_BASE_URL). Before each request it applies the
    invalidations CloudFront recorded since the last one, unless
    `invalidating` is off (a distribution nothing invalidates); then it serves
    its cached copy, or fills one from the S3 origin, or answers 403 for a key
    the bucket does not hold, as CloudFront does for a private bucket, and for
    every key when `reads_origin` is off (no origin access control, or a
    legacy OAI the stack's bucket policy does not admit)."""

    def __init__(self, s3, cloudfront, distribution_id: str, origin: Origin, invalidating: bool = True,
                 reads_origin: bool = True):
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        self.s3, self.origin, self.invalidating, self.reads_origin = s3, origin, invalidating, reads_origin
        self.edge = Edge("viewer", origin)
        self.log = InvalidationLog(cloudfront, distribution_id)
        self.bodies: dict[str, bytes] = {}
        self.served: list[tuple[str, int, bool]] = []  # (url, status, from cache)
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                status, body = server.respond(self.path)
                self.send_response(status)
                self.send_header("Content-Type", "text/plain" if status == 200 else "application/xml")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def respond(self, url: str) -> tuple[int, bytes]:
        with self._lock:
            for paths in self.log.new():
                if self.invalidating:
                    for gone in self.edge.invalidate(paths):
                        self.bodies.pop(gone, None)
            self.origin.new_pass()
            response = self.edge.request(url)
            if response.got == MISSING or not self.reads_origin:
                self.served.append((url, 403, False))
                return 403, b"<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>"
            if not response.from_cache:
                got = self.s3.get_object(Bucket=self.origin.bucket, Key=response.key)
                self.bodies[url] = got["Body"].read()
            self.served.append((url, 200, response.from_cache))
            return 200, self.bodies[url]

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
