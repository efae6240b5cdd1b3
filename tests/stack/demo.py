"""make demo: the user story, told on a deployed stack in a local AWS.

A Django shop serves its static files from S3 through CloudFront. It runs
collectstatic, viewers fill the cache servers, it edits its stylesheet and
runs collectstatic again. What did the viewers get before the function's
invalidation, and after it?
"""

from __future__ import annotations

import logging
import re
import sys
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT / "tools"), str(ROOT / "tests/template"), str(Path(__file__).parent)]

from edges import MISSING  # noqa: E402
from local_aws import LocalAws  # noqa: E402
from scenario import DJANGO_PARAMS, Run  # noqa: E402
from uploads import DjangoSite  # noqa: E402

WORK = ROOT / "target/stack-tmp/demo"
SERVERS = ["IAD-1", "IAD-2", "FRA-1"]
PRICE = 0.005  # USD per path past the first 1,000 of the month
START = time.monotonic()


def say(text: str = "") -> None:
    print(f"[{time.monotonic() - START:5.1f}s] {text}" if text else "", flush=True)


def summary(output: str) -> str:
    return output.strip().splitlines()[-1].strip().rstrip(".")


def main() -> None:
    # moto names each resource type it skips; the demo says it once, below.
    warnings.filterwarnings("ignore", message="Tried to parse")
    logging.getLogger("moto").setLevel(logging.ERROR)
    say("starting a local AWS (moto) in this process...")
    aws = LocalAws()
    say(f"local AWS at {aws.endpoint}; deploying template.yaml (Wiring=bucket-to-queue) with CloudFormation...")
    run = Run(
        aws,
        WORK,
        "demo",
        "bucket-to-queue",
        discover=False,
        params=dict(DJANGO_PARAMS),
        servers=SERVERS,
        origin_paths=("/static",),
    )
    try:
        tell(aws, run)
    finally:
        run.stop()
        aws.stop()


def tell(aws, run: Run) -> None:
    stack, (distribution,) = run.stack, run.ids
    mapping = stack.changes.mapping
    say(
        f"stack {stack.name}: bucket {stack.bucket}, queue batches of up to {mapping['BatchSize']} "
        f"messages in a {mapping['MaximumBatchingWindowInSeconds']} s window, SkipHashedNames=true"
    )
    say(f"  (moto's CloudFormation skips {', '.join(sorted(set(stack.skipped.values())))}: tests/template checks them)")
    say(f"CloudFront distribution {distribution} serves the bucket's static/ through cache servers {', '.join(SERVERS)}")
    s3 = aws.client("s3")
    site = DjangoSite(WORK)
    labels: dict[str, str] = {}

    def remember_css() -> str:
        got = s3.get_object(Bucket=run.bucket, Key="static/css/site.css")
        label = re.search(rb"/\* (.*?) \*/", got["Body"].read()).group(1).decode()
        labels[got["ETag"]] = f'"{label}"'
        return label

    say("collectstatic #1 (django-storages' S3ManifestStaticStorage)...")
    say(f"  {summary(site.collectstatic(aws, run.bucket))}; css/site.css says \"{remember_css()}\"")
    first = run.deliver()
    say(f"  the function took S3's events from the queue: {describe(first)}")
    run.viewers()
    urls = len(run.urls[distribution])
    say(f"viewers asked every server for each of the site's {urls} URLs: every server caches them now")

    site.edit()
    say('edited css/site.css ("test 1" -> "test 2") and img/logo.png, added js/new-widget.js, removed js/old-banner.js')
    say("collectstatic #2...")
    say(f"  {summary(site.collectstatic(aws, run.bucket))}; css/site.css says \"{remember_css()}\"")

    _, before = run.viewers()
    stale_before = [r for r in before if r.stale]
    say(f"BEFORE the invalidation (the batch is still gathering): {len(stale_before)} stale responses of {len(before)}")
    show(sorted({r.url for r in stale_before}), run, labels, distribution)

    second = run.deliver()
    say(
        "the function waited until each change was a second old (deployed, a minute: MARGIN_SECONDS), so "
        "that no server keeps a copy it was fetching as the upload landed"
    )
    say(f"the function's invalidation: {describe(second)}")
    for d, paths in second:
        say(f"  CreateInvalidation on {d}: {' '.join(paths[:12])}{' ...' if len(paths) > 12 else ''}")
    paths = sum(len(p) for _, p in first + second)
    say(
        f"  cost of both deploys: {paths} paths, free within the first 1,000 a month, "
        f"else USD {paths * PRICE:.2f} (USD 0.005 a path)"
    )

    after, without = run.viewers()
    stale_after = [r for r in after if r.stale]
    say(f"AFTER it: {len(stale_after)} stale responses of {len(after)}")
    show(sorted({r.url for r in stale_before}), run, labels, distribution)
    say(
        f"without the function, the same viewers would still get {sum(r.stale for r in without)} stale responses, "
        "until each server's cache time runs out."
    )
    say(f"function log: {run.function.log_path.relative_to(ROOT)}")
    if stale_after:
        raise SystemExit(f"stale after the invalidation: {sorted({r.url for r in stale_after})}")


def describe(applied: list[tuple[str, list[str]]]) -> str:
    if not applied:
        return "no invalidation"
    paths = sum(len(p) for _, p in applied)
    return f"{len(applied)} invalidation request(s), {paths} paths"


def show(urls: list[str], run: Run, labels: dict[str, str], distribution: str) -> None:
    """One line per URL: what each server answers now, from its cache."""
    origin = run.origins[distribution]
    width = max(len(u) for u in urls) if urls else 10
    print(f"         {'URL':<{width}}  " + "  ".join(f"{s:<14}" for s in SERVERS))
    for url in urls:
        cells = []
        for edge in run.edges[distribution]:
            _, fresh = origin.get(url)
            cached = edge.cache.get(url, (None, fresh))[1]
            what = labels.get(cached, "old" if cached != fresh else "new") if cached != MISSING else "gone"
            cells.append(f"{what} {'STALE' if cached != fresh else 'ok'}")
        print(f"         {url:<{width}}  " + "  ".join(f"{c:<14}" for c in cells))


if __name__ == "__main__":
    main()
