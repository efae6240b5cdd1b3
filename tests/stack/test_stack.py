"""template.yaml deployed into a local AWS, fed by real upload tools, read by
modelled CloudFront edges: after a deploy, does any viewer get an old object?

Every wiring, with listed distributions and with auto. The events are the ones
moto's S3 (and EventBridge) produced; the stack's settings are read from what
moto deployed. See the README's "Proof on a deployed stack".
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import local_aws
from player import AsyncInvoker, Function, QueuePoller
from scenario import KNOWN_STALE, SCENARIOS, Run, known

WIRINGS = ["bucket-to-function", "bucket-to-queue", "existing-bucket"]
with_distributions = pytest.mark.parametrize("discover", [False, True], ids=["listed", "auto"])
in_every_wiring = pytest.mark.parametrize("wiring", WIRINGS)


def log_tail(path, lines: int = 60) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return "(no log)"


# The last decorator varies slowest: the long Django scenarios come first, so
# that two workers finish together.
@with_distributions
@in_every_wiring
@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_no_viewer_gets_a_stale_object_after_a_deploy(aws, work_root, record, scenario, wiring, discover):
    work = work_root / f"{scenario}-{wiring}-{'auto' if discover else 'listed'}"
    try:
        f = SCENARIOS[scenario](aws, work, wiring, discover)
        record(f, work)
        assert f.stale_without > 0, "without the function nothing was stale: this scenario proves nothing"
        assert f.requests > 0 and f.paths > 0
        unexplained = [url for url in f.stale_after_urls if not known(url)]
        assert unexplained == [], f"stale after the function's invalidations: {unexplained}"
        if KNOWN_STALE:
            # A known finding stays until the function covers it; then its entry goes.
            assert f.stale_known > 0, f"a known stale URL is fresh now: update KNOWN_STALE ({f.stale_after_urls})"
        assert f.repeated_references == 0
    except BaseException:
        print(f"--- last lines of {work / 'function.log'}:\n{log_tail(work / 'function.log')}")
        raise


@in_every_wiring
def test_a_change_that_cannot_be_invalidated_ends_in_the_dead_letter_queue(aws, work_root, wiring):
    """A listed distribution that does not exist: Lambda's retries (async) or
    SQS's redrive after maxReceiveCount receives (queues) put the change in
    the dead-letter queue, as the event that carried it."""
    work = work_root / f"dead-letter-{wiring}"
    run = Run(aws, work, "dead-letter", wiring, discover=False, origin_paths=("",))
    try:
        # Redeploying is not needed: the function reads DISTRIBUTION_IDS at
        # start, so the played environment gets one more, made-up, distribution.
        run.stack.function["Environment"]["Variables"]["DISTRIBUTION_IDS"] += ",E0DOESNOTEXIST"
        run.use(Function(aws, run.stack, work / "function-missing-distribution.log"))
        aws.client("s3").put_object(Bucket=run.bucket, Key="css/site.css", Body=b"body { color: red }")
        run.deliver()

        sqs = aws.client("sqs")
        got = sqs.receive_message(QueueUrl=run.stack.dead_letter_url, MaxNumberOfMessages=10)["Messages"]
        bodies = [json.loads(m["Body"]) for m in got]
        if isinstance(run.player, AsyncInvoker):
            (record,) = bodies
            assert record["requestContext"]["condition"] == "RetriesExhausted"
            assert record["requestContext"]["approximateInvokeCount"] == 1 + run.player.retries
            assert record["requestPayload"]["Records"][0]["s3"]["object"]["key"] == "css%2Fsite.css"
        else:
            assert isinstance(run.player, QueuePoller)
            changes = [b for b in bodies if "Event" not in b]  # the test event succeeds
            assert len(changes) == 1, bodies
            key = changes[0]["detail"]["object"]["key"] if "detail" in changes[0] else changes[0]["Records"][0]["s3"]["object"]["key"]
            assert key in ("css%2Fsite.css", "css/site.css"), key
            # Received maxReceiveCount times, failed each time; SQS moved it on the next receive.
            assert run.player.redelivered == run.player.max_receives, run.player.redelivered
        # The distribution that exists got its invalidation every time (same reference).
        assert run.logs[run.ids[0]].requests > 0
    except BaseException:
        print(f"--- last lines of the function's log:\n{log_tail(run.function.log_path)}")
        raise
    finally:
        run.stop()


def test_the_demo_tells_the_story():
    """`make demo`: the same stack and tools, told for a reader."""
    demo = Path(__file__).with_name("demo.py")
    done = subprocess.run([sys.executable, str(demo)], capture_output=True, text=True, env=os.environ | {"PYTHONDONTWRITEBYTECODE": "1"})
    assert done.returncode == 0, done.stdout + done.stderr
    assert "AFTER it: 0 stale responses" in done.stdout, done.stdout
    assert "STALE" in done.stdout.split("AFTER it")[0], done.stdout
