"""One scenario on a deployed stack: two deploys of a site with a real upload
tool, the events moto's S3 sent delivered by the played Lambda service, and
viewers asking every edge for every URL before and after.

Each distribution gets two sets of edge servers that see the same viewers
and the same origin: one applies the invalidations CloudFront recorded, the
other never does (the same site without the function). Stale responses of
the second set, after the second deploy, are what the function must cure;
the first set's must be none.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from pathlib import Path

import local_aws
from deploy import CACHING_OPTIMIZED, QUERY_STRINGS, create_distribution, deploy, origin_of, point_distribution
from edges import Edge, InvalidationLog, Origin, Response, requested, urls_for
from player import AsyncInvoker, Function, QueuePoller
from uploads import Burst, DjangoSite, StaticSite, enable_eventbridge

# Cache servers per distribution (the user story's "many cache servers").
SERVERS = ["IAD-1", "IAD-2", "FRA-1"]
# Keys the function cannot make fresh under the edge model's byte-exact
# matching, with the reason; each must be stale after, or the entry goes.
# (None: '~', found here, is now covered by a wildcard over its prefix.)
KNOWN_STALE: dict[str, str] = {}
BURST_PER_BATCH = 2.5  # the burst spans this many of the stack's batches


@dataclass
class Figures:
    scenario: str
    wiring: str
    distributions: str  # "listed" or "auto"
    events: int = 0  # S3 events delivered (queue messages or async events)
    invocations: int = 0  # of the function, all of them
    watch_invocations: int = 0  # of them, from the watch queue
    watched: int = 0  # invalidations followed to Completed through the watch queue
    batches: list[int] = field(default_factory=list)
    stale_before: int = 0  # after the second deploy, before its invalidations
    stale_without: int = 0  # after it, edges that never invalidate
    stale_after: int = 0  # after it, edges that apply the function's invalidations
    stale_known: int = 0  # of stale_after, URLs in KNOWN_STALE
    responses: int = 0  # per pass and edge set
    requests: int = 0  # invalidations CloudFront created
    paths: int = 0  # paths billed
    repeated_references: int = 0
    stale_after_urls: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def name(self) -> str:
        return f"{self.scenario}-{self.wiring}-{self.distributions}"


@dataclass(frozen=True)
class Listed:
    """A distribution the stack lists, as CloudFront has it and as
    DistributionIds says it: its origin path in CloudFront, the one listed
    (None: the same), whether its default behavior keys on query strings,
    and whether its origin is another bucket altogether."""

    origin_path: str = ""
    listed_as: str | None = None
    query_strings: bool = False
    elsewhere: bool = False


class Run:
    """A stack of one wiring, its distributions, edges, function and player."""

    def __init__(self, aws, work: Path, scenario: str, wiring: str, discover: bool, params: dict[str, str] | None = None,
                 servers: list[str] | None = None, origin_paths: tuple[str, ...] = ("", "/static"),
                 function_env: dict[str, str] | None = None, default_wiring: bool = False,
                 listed: list[Listed] | None = None):
        """`default_wiring`: deploy without a Wiring parameter (`wiring` must
        then be the template's default). `listed`: the distributions listed,
        each as CloudFront has it and as listed, instead of one per origin
        path listed as it is."""
        self.aws, self.work, self.scenario = aws, work, scenario
        self.figures = Figures(scenario, wiring, "auto" if discover else "listed")
        self.started = time.monotonic()
        work.mkdir(parents=True, exist_ok=True)
        name = re.sub(r"[^A-Za-z0-9-]", "-", f"inv-{self.figures.name}")[:100]
        s3 = aws.client("s3")
        params = ({} if default_wiring else {"Wiring": wiring}) | (params or {})
        existing = None
        if wiring == "existing-bucket":
            existing = f"{name.lower()}-site"[:63]
            s3.create_bucket(Bucket=existing)
            enable_eventbridge(aws, existing, work)
            params["ExistingBucketName"] = existing
        # Listed distributions exist before the stack that names them; with
        # the stack's own bucket they are pointed at it once it exists, as a
        # user would (UpdateDistribution). With auto they are made after.
        if discover:
            params["DistributionIds"] = "auto"
            self.stack = deploy(aws, name, params)
            self.ids = [create_distribution(aws, self.stack.bucket, p, f"{name}{i}") for i, p in enumerate(origin_paths)]
            # A distribution of another bucket: discovery must leave it alone.
            self.bystander = create_distribution(aws, f"{name.lower()}-other"[:63], "", f"{name}-other")
        else:
            placeholder = existing or "not-yet-created"
            listed = listed or [Listed(p) for p in origin_paths]
            elsewhere = f"{name.lower()}-other"[:63]
            self.ids = [
                create_distribution(aws, elsewhere if d.elsewhere else placeholder, d.origin_path, f"{name}{i}",
                                    QUERY_STRINGS if d.query_strings else CACHING_OPTIMIZED)
                for i, d in enumerate(listed)
            ]
            typed = [d.origin_path if d.listed_as is None else d.listed_as for d in listed]
            params["DistributionIds"] = ",".join(f"{d}={p}" if p else d for d, p in zip(self.ids, typed))
            self.stack = deploy(aws, name, params)
            if not existing:
                for d, spec in zip(self.ids, listed):
                    if not spec.elsewhere:
                        point_distribution(aws, d, self.stack.bucket)
            self.bystander = None
        self.bucket = self.stack.bucket
        assert self.stack.wiring == wiring, f"deployed {self.stack.wiring}, meant {wiring}"

        self.function = Function(aws, self.stack, work / "function.log", function_env)
        # Every event source mapping of the stack is played; the changes come
        # through the changes queue's, or (bucket-to-function) from S3 directly.
        self.pollers = [QueuePoller(aws, m, self.function) for m in self.stack.mappings]
        changes = self.stack.changes
        if changes:
            self.player = next(p for p in self.pollers if p.queue_url == changes.queue_url)
        else:
            self.player = AsyncInvoker(aws, self.stack, self.function, local_aws.lambda_invocations)

        index = self.stack.function["Environment"]["Variables"].get("INDEX_DOCUMENT", "index.html")
        cloudfront = aws.client("cloudfront")
        self.origins: dict[str, Origin] = {}
        self.edges: dict[str, list[Edge]] = {}  # applying invalidations
        self.bare: dict[str, list[Edge]] = {}  # never invalidated: without the function
        self.logs: dict[str, InvalidationLog] = {}
        # The distributions serving the bucket: those with edges here.
        self.serving: list[str] = []
        for d in self.ids:
            self.logs[d] = InvalidationLog(cloudfront, d)
            served = origin_of(aws, d)
            if served.bucket != self.bucket:
                assert listed and not discover, f"{d} serves {served.bucket}, not {self.bucket}"
                continue
            self.serving.append(d)
            origin = Origin(s3, served.bucket, served.origin_path, served.default_root_object, index,
                            served.query_strings)
            self.origins[d] = origin
            self.edges[d] = [Edge(f"{s}", origin) for s in servers or SERVERS]
            self.bare[d] = [Edge(f"{s}", origin) for s in servers or SERVERS]
        self.urls: dict[str, set[str]] = {d: set() for d in self.serving}

    # -- steps ------------------------------------------------------------------

    def use(self, function: Function) -> None:
        """Plays the stack with another process of the function."""
        self.function.stop()
        self.function = function
        for player in self.pollers + [self.player]:
            player.function = function

    def deliver(self) -> list[tuple[str, list[str]]]:
        """The played Lambda service delivers what S3 sent, and whatever the
        function sent to its own queues, until every queue is quiet; then each
        new invalidation CloudFront recorded reaches every edge that applies
        them."""
        while True:
            if isinstance(self.player, AsyncInvoker):
                self.player.drain()
            if sum(p.drain() for p in self.pollers) == 0:
                break
        applied = []
        for d in self.ids:
            for paths in self.logs[d].new():
                applied.append((d, paths))
                for edge in self.edges.get(d, []):
                    edge.invalidate(paths)
        return applied

    def viewers(self) -> tuple[list[Response], list[Response]]:
        """Every URL of the site so far, on every server of every
        distribution: (with the function, without it)."""
        with_function, without = [], []
        for d in self.serving:
            got, bare = self.viewers_of(d)
            with_function += got
            without += bare
        return with_function, without

    def viewers_of(self, d: str) -> tuple[list[Response], list[Response]]:
        """Every URL of the site so far on every server of distribution `d`,
        with each query string viewers add where its cache key holds them:
        (with the function, without it)."""
        origin = self.origins[d]
        origin.new_pass()
        self.urls[d] |= urls_for(origin.keys(), origin.index)
        with_function, without = [], []
        for url in sorted(self.urls[d]):
            for asked in requested(url, origin.query_strings):
                with_function += [edge.request(asked) for edge in self.edges[d]]
                without += [edge.request(asked) for edge in self.bare[d]]
        return with_function, without

    def finish(self) -> Figures:
        f = self.figures
        f.invocations = self.function.invocations
        f.watch_invocations = sum(len(p.batches) for p in self.pollers if p is not self.player)
        f.watched = sum(sum(p.batches) for p in self.pollers if p is not self.player)
        if isinstance(self.player, QueuePoller):
            f.batches = self.player.batches
            f.events = sum(self.player.batches) - self.player.redelivered
        else:
            f.events = self.player.events
        f.requests = sum(log.requests for log in self.logs.values())
        f.paths = sum(log.paths for log in self.logs.values())
        f.repeated_references = sum(log.repeated for log in self.logs.values())
        f.seconds = time.monotonic() - self.started
        return f

    def check(self, failures: int = 0) -> None:
        """What must hold after every scenario: nothing left in the queues,
        nothing in the dead-letter queue, no function error (but the
        `failures` a test caused on purpose), and discovery leaving other
        distributions alone."""
        sqs = self.aws.client("sqs")
        for url in self.stack.queue_urls:
            counts = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible",
                      "ApproximateNumberOfMessagesDelayed"]
            attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=counts)["Attributes"]
            assert attrs == dict.fromkeys(counts, "0"), f"{url}: {attrs}"
        assert self.function.failures == failures, f"{self.function.failures} failed invocations, {failures} expected"
        # Every invocation that plans takes its share of CloudFront's room by
        # MAX_CONCURRENCY: the deployed stack bounds them by that number (the
        # changes queue's mapping, or S3's direct invocations by the
        # function's reserved concurrency).
        planners = self.stack.function["Environment"]["Variables"]["MAX_CONCURRENCY"]
        assert self.stack.planners == int(planners), f"MAX_CONCURRENCY {planners}, bounded at {self.stack.planners}"
        if self.stack.changes:
            asked = self.stack.params.get("ReservedConcurrency")
            assert self.stack.reserved_concurrency == (int(asked) if asked else None), "reserved concurrency unasked"
        if self.bystander:
            got = self.aws.client("cloudfront").list_invalidations(DistributionId=self.bystander)
            assert got["InvalidationList"].get("Quantity", 0) == 0, f"discovery invalidated {self.bystander}"

    def stop(self) -> None:
        if isinstance(self.player, AsyncInvoker):
            self.player.stop()
        self.function.stop()


def count_stale(responses: list[Response]) -> int:
    return sum(r.stale for r in responses)


def known(url: str) -> bool:
    return any(mark in url for mark in KNOWN_STALE)


def play(run: Run, first, second) -> Figures:
    """First deploy, delivery, viewers warm every edge; second deploy, viewers
    (before the invalidations), delivery, viewers again."""
    first()
    run.deliver()
    run.viewers()
    second()
    _, before = run.viewers()
    run.deliver()
    after, without = run.viewers()
    f = run.figures
    f.stale_before = count_stale(before)
    f.stale_without = count_stale(without)
    stale = [r for r in after if r.stale]
    f.stale_after = len(stale)
    f.stale_known = sum(known(r.url) for r in stale)
    f.stale_after_urls = sorted({r.url for r in stale})
    f.responses = len(after)
    return f


# -- the three scenarios ---------------------------------------------------------


# A Django site deploys with SkipHashedNames=true, as docs/evidence.md advises for
# ManifestStaticFilesStorage: its hashed copies never need invalidating (the
# viewers prove it), and each of their uploads and deletions is an event.
DJANGO_PARAMS = {"SkipHashedNames": "true"}


def django(aws, work: Path, wiring: str, discover: bool) -> Figures:
    run = Run(aws, work, "django", wiring, discover, params=dict(DJANGO_PARAMS))
    try:
        site = DjangoSite(work)

        def second():
            site.edit()
            site.collectstatic(aws, run.bucket)

        play(run, lambda: site.collectstatic(aws, run.bucket), second)
        run.check()
        return run.finish()
    finally:
        run.stop()


def sync(aws, work: Path, wiring: str, discover: bool) -> Figures:
    run = Run(aws, work, "sync", wiring, discover)
    try:
        site = StaticSite(work)

        def deploy_version(version):
            site.write(version)
            site.sync(aws, run.bucket, work)

        play(run, lambda: deploy_version(1), lambda: deploy_version(2))
        run.check()
        return run.finish()
    finally:
        run.stop()


# The burst's stacks take batches of 20 (the template's default, 1,000 with a
# 60 s window, would need thousands of uploads to fill several; Lambda's own
# default is 10).
BURST_PARAMS = {"BatchSize": "20", "BatchWindowSeconds": "2"}


def burst(aws, work: Path, wiring: str, discover: bool) -> Figures:
    run = Run(aws, work, "burst", wiring, discover, params=dict(BURST_PARAMS))
    try:
        # Sized from what the stack reports, so that it spans several batches.
        changes = run.stack.changes
        batch = int(changes.mapping["BatchSize"]) if changes else int(BURST_PARAMS["BatchSize"])
        tool = Burst(work, int(batch * BURST_PER_BATCH))
        play(run, lambda: tool.upload(aws, run.bucket, 1, work), lambda: tool.upload(aws, run.bucket, 2, work))
        run.check()
        figures = run.finish()
        if changes:
            full = [b for b in figures.batches if b == batch]
            assert len(full) >= 2 * int(BURST_PER_BATCH), f"batches {figures.batches}, size {batch}"
        return figures
    finally:
        run.stop()


SCENARIOS = {"django": django, "sync": sync, "burst": burst}
