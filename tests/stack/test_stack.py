"""template.yaml deployed into a local AWS, fed by real upload tools, read by
modelled CloudFront edges: after a deploy, does any viewer get an old object?

Every wiring, with listed distributions and with auto. The events are the ones
moto's S3 (and EventBridge) produced; the stack's settings are read from what
moto deployed. See "Proof on a deployed stack" in docs/evidence.md.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

import local_aws
from edges import EdgeServer, urls_for
from figures import keep
from gate import CloudFrontGate
from player import AsyncInvoker, Function, LambdaApi, QueuePoller
from scenario import KNOWN_STALE, SCENARIOS, Figures, Listed, Run, count_stale, known
from uploads import run as run_tool
from uploads import tool

ROOT = Path(__file__).resolve().parents[2]

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


# One stack listing three distributions that CloudFront knows better than
# DistributionIds: one whose default behavior keys on query strings, one
# whose origin path is /static while DistributionIds lists it without one,
# and one whose origin is another bucket.
CONFIGURED = {
    "query-strings": Listed("", query_strings=True),
    "wrong-origin-path": Listed("/static", listed_as=""),
    "other-bucket": Listed("", elsewhere=True),
}
# A small site: the root index document stays, the rest changes (so the
# distribution keyed on query strings needs each path's own wildcard, not
# the /* the root would take).
SITE = {"index.html": False, "about.html": True, "docs/index.html": True, "static/app.js": True,
        "static/css/site.css": True}


def write_site(root: Path, version: int) -> None:
    for name, changes in SITE.items():
        path = root / name
        if version > 1 and not changes:
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        # Each version a different length, so sync sees the change by size.
        path.write_text(f"/* {name} */ version {version}{'!' * version}\n")
        if version == 1:
            earlier = time.time() - 60
            os.utime(path, (earlier, earlier))


def emitted(log: Path) -> dict[str, float]:
    """The function's metrics in its log (embedded metric format): totals by name."""
    totals: dict[str, float] = {}
    for line in log.read_text(errors="replace").splitlines():
        try:
            document = json.loads(line)
        except ValueError:
            continue
        if not isinstance(document, dict) or "_aws" not in document:
            continue
        for directive in document["_aws"]["CloudWatchMetrics"]:
            if directive["Dimensions"] in ([], [[]]):
                for metric in directive["Metrics"]:
                    values = document[metric["Name"]]
                    values = values if isinstance(values, list) else [values]
                    totals[metric["Name"]] = totals.get(metric["Name"], 0) + sum(float(v) for v in values)
    return totals


def test_each_distributions_own_configuration_decides_its_paths(aws, work_root, record):
    """Two deploys with `aws s3 sync`, viewers on every edge before and after,
    with `?v=1` and `?utm_source=x` where the cache key holds query strings.
    The distribution keyed on query strings gets each path with a trailing
    `*`: none of its variants is stale after, all changed ones are without
    the function. The one listed without its origin path /static gets paths
    without /static, CloudFront's, and one WARN naming both. The one of
    another bucket gets nothing, an ERROR line, the metric the deployed
    distribution-not-serving-bucket alarm watches."""
    work = work_root / "configuration-bucket-to-queue-listed"
    run = Run(aws, work, "configuration", "bucket-to-queue", discover=False, listed=list(CONFIGURED.values()))
    keyed, moved, other = run.ids
    root = work / "www"
    try:
        def deploy_version(version: int) -> None:
            write_site(root, version)
            run_tool(aws, [tool("aws"), "s3", "sync", "--delete", "--no-progress", str(root), f"s3://{run.bucket}/"], work)

        deploy_version(1)
        run.deliver()
        run.viewers()
        first = {d: len(run.logs[d].batches) for d in run.ids}
        deploy_version(2)
        run.deliver()
        second = {d: [p for batch in run.logs[d].batches[first[d]:] for p in batch] for d in run.ids}
        for label, d in zip(CONFIGURED, run.ids):
            f = Figures("configuration", "bucket-to-queue", label)
            if d in run.serving:
                after, without = run.viewers_of(d)
                f.stale_without, f.stale_after, f.responses = count_stale(without), count_stale(after), len(after)
                f.stale_after_urls = sorted({r.url for r in after if r.stale})
            f.requests, f.paths = run.logs[d].requests, run.logs[d].paths
            f.events, f.invocations = sum(run.player.batches) - run.player.redelivered, run.function.invocations
            figures = work_root / f"configuration-{label}"
            figures.mkdir(exist_ok=True)
            record(f, figures)
            print(f"{label}: stale without the function {f.stale_without} of {f.responses}, after its "
                  f"invalidations {f.stale_after}; {f.requests} request(s), {f.paths} path(s) billed: "
                  f"{run.logs[d].batches}")

        # Within the function's share of wildcards (3 with two planners), so
        # /static/app.js* and /static/css/site.css* are under /static/*.
        assert sorted(second[keyed]) == ["/about.html*", "/docs*", "/static/*"], second[keyed]
        assert sorted(second[moved]) == ["/app.js", "/css/site.css"], second[moved]
        for d in (keyed, moved):
            after, without = run.viewers_of(d)
            assert count_stale(without) > 0, f"{d}: nothing stale without the function proves nothing"
            assert [r.url for r in after if r.stale] == [], d
        stale_variants = {r.url for r in run.viewers_of(keyed)[1] if r.stale and "?" in r.url}
        assert "/static/app.js?v=1" in stale_variants and "/static/app.js?utm_source=x" in stale_variants

        assert run.logs[other].requests == 0
        log = run.function.log_path.read_text(errors="replace")
        assert f"distribution {other} does not serve bucket {run.bucket}" in log, log[-3000:]
        warned = [line for line in log.splitlines() if f"distribution {moved} serves the bucket through origin path /static" in line]
        assert len(warned) == 1, warned
        assert emitted(run.function.log_path).get("DistributionNotServingBucket", 0) > 0
        (alarm,) = aws.client("cloudwatch").describe_alarms(
            AlarmNames=[f"{run.stack.name}-distribution-not-serving-bucket"]
        )["MetricAlarms"]
        variables = run.stack.function["Environment"]["Variables"]
        assert (alarm["Namespace"], alarm["MetricName"]) == (variables["METRICS_NAMESPACE"], "DistributionNotServingBucket")
        assert (alarm["Threshold"], alarm["ComparisonOperator"]) == (0, "GreaterThanThreshold")
        assert alarm["AlarmActions"] == [run.stack.outputs["AlarmTopicArn"]]
        run.check()
    except BaseException:
        print(f"--- last lines of {work / 'function.log'}:\n{log_tail(work / 'function.log')}")
        raise
    finally:
        run.stop()


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


# Invalidated before CloudFront refused, and not changed again: a redrive
# must not ask for them. Changed while it refused: they wait in the
# dead-letter queue until the redrive.
KEPT = ["css/site.css", "js/app.js"]
REFUSED = ["index.html", "docs/read me.html"]


def operator(aws, api, work, command: list[str], region: str | None = None) -> subprocess.CompletedProcess:
    """`command` from the project's directory, as an operator runs it: the
    project's AWS CLI, the local AWS's endpoint and credentials and no user
    configuration, Lambda's endpoint at the played Invoke API; its temporary
    files under a directory of its own, which must be left empty. With
    `region`, the region is the profile's (a config file that says so), and
    the environment names none."""
    scratch = work / "redrive-tmp"
    scratch.mkdir(exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")} | aws.environment() | {
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "HOME": str(work),
        "TMPDIR": str(scratch),
    }
    if api:
        env["AWS_ENDPOINT_URL_LAMBDA"] = api.endpoint
    if region:
        profile = work / f"config-{region}"
        profile.write_text(f"[default]\nregion = {region}\n")
        env = {k: v for k, v in env.items() if k not in ("AWS_REGION", "AWS_DEFAULT_REGION")}
        env["AWS_CONFIG_FILE"] = str(profile)
    start = time.monotonic()
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    seconds = time.monotonic() - start
    with open(work / "redrive.out", "a") as out:
        out.write(f"$ {' '.join(command)}  (exit {done.returncode}, {seconds:.1f} s)\n{done.stdout}{done.stderr}\n")
    assert list(scratch.iterdir()) == [], f"{command[:2]} left files behind"
    return done


def redrive(aws, run, api, work, script: Path = ROOT / "tools/redrive.sh") -> subprocess.CompletedProcess:
    return operator(aws, api, work, ["bash", str(script), run.stack.name])


def packaged(work: Path) -> Path:
    """dist/ as `make package` writes it (tools/package.py), around a stand-in
    bundle: what a deployment without the source tree has."""
    bundle = work / "build" / "InvalidatorFunction"
    bundle.mkdir(parents=True, exist_ok=True)
    (bundle / "bootstrap").write_text("#!/bin/sh\n# stands in for the arm64 build\n")
    (bundle / "bootstrap").chmod(0o755)
    dist = work / "dist"
    subprocess.run([sys.executable, str(ROOT / "tools/package.py"), str(work / "build"), str(dist)],
                   check=True, capture_output=True)
    return dist


def alarm_command(aws, stack, alarm: str, verb: str) -> list[str]:
    """The AWS CLI command an alarm's description, as deployed, gives for
    `verb`: the plain command an operator copies, with the deployed ARNs."""
    (described,) = aws.client("cloudwatch").describe_alarms(AlarmNames=[f"{stack.name}-{alarm}"])["MetricAlarms"]
    found = re.search(rf"aws (\w+) {verb}( --[a-z-]+ \S+)+", described["AlarmDescription"])
    assert found, f"{alarm}'s description gives no aws ... {verb}: {described['AlarmDescription']}"
    words = found.group(0).split()
    # AWS CLI v1 (the project's) ignores AWS_ENDPOINT_URL for SQS
    # (aws/aws-cli#8737): the local endpoint, and nothing else, is added.
    return words[:1] + ["--endpoint-url", aws.endpoint] + words[1:]


def covered(url: str, paths) -> bool:
    return any(url.startswith(p[:-1]) if p.endswith("*") else url == p for p in paths)


@in_every_wiring
def test_a_redrive_invalidates_what_failed_once_the_cause_is_fixed(aws, work_root, wiring):
    """CloudFront refuses the function's CreateInvalidation for a while (its
    role lost the permission: tests/stack/gate.py); changes made then end in
    the dead-letter queue, stale at the edges. Once fixed, the replay the
    change-not-invalidated alarm names runs as an operator runs it:
    redrive.sh from dist/ (bucket-to-function), the plain AWS CLI command of
    the deployed alarm's description (bucket-to-queue), `make redrive` with
    the region of the caller's profile (existing-bucket; another region's
    profile finds no such stack). The played Lambda service delivers what it
    put back: every change is invalidated, the dead-letter queue is empty,
    viewers get fresh objects, and nothing invalidated before is asked for
    again."""
    work = work_root / f"redrive-{wiring}"
    gate = CloudFrontGate(aws.endpoint, local_aws.ACCOUNT)
    run = Run(aws, work, "redrive", wiring, discover=False, origin_paths=("",),
              function_env={"AWS_ENDPOINT_URL_CLOUDFRONT": gate.endpoint})
    api = LambdaApi(run.stack, lambda: run.function)
    s3, sqs = aws.client("s3"), aws.client("sqs")
    (distribution,) = run.ids
    log = run.logs[distribution]
    dlq = run.stack.dead_letter_url

    def waiting() -> int:
        attrs = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["ApproximateNumberOfMessages"])
        return int(attrs["Attributes"]["ApproximateNumberOfMessages"])

    try:
        for key in KEPT + REFUSED:
            s3.put_object(Bucket=run.bucket, Key=key, Body=f"{key} 1".encode())
        run.deliver()
        run.viewers()  # every edge caches every object
        before = len(log.batches)
        assert before > 0 and waiting() == 0

        gate.deny = True
        for key in REFUSED:
            s3.put_object(Bucket=run.bucket, Key=key, Body=f"{key} 2".encode())
        run.deliver()
        assert gate.denied > 0 and len(log.batches) == before
        assert waiting() == len(REFUSED), f"{waiting()} message(s) in the dead-letter queue"
        stale, _ = run.viewers()
        assert {r.url for r in stale if r.stale} == urls_for(set(REFUSED), run.origins[distribution].index)

        if isinstance(run.player, AsyncInvoker):
            # Too early: each record fails again, and stays for the next run.
            early = redrive(aws, run, api, work)
            assert early.returncode == 1, early.stdout + early.stderr
            assert f"replayed 0 message(s) through the function; {len(REFUSED)} still failing" in early.stdout
            assert early.stderr.count("still failing (Unhandled)") == len(REFUSED), early.stderr
            assert waiting() == len(REFUSED), "the failed records are not visible again for the next run"
        failures = run.function.failures

        gate.deny = False  # the cause, fixed
        if isinstance(run.player, AsyncInvoker):
            # The script the alarm names, from dist/: what a deployment
            # without the source tree has.
            done = redrive(aws, run, api, work, packaged(work) / "redrive.sh")
            assert done.returncode == 0, done.stdout + done.stderr
            assert f"replayed {len(REFUSED)} message(s)" in done.stdout, done.stdout
            assert api.invocations == 2 * len(REFUSED)
        elif wiring == "bucket-to-queue":
            # The plain AWS CLI command of the alarm's description, as deployed.
            command = alarm_command(aws, run.stack, "change-not-invalidated", "start-message-move-task")
            assert command[-4:] == ["--source-arn", run.stack.dead_letter_arn,
                                    "--destination-arn", run.stack.changes.queue["QueueArn"]], command
            done = operator(aws, None, work, command)
            assert done.returncode == 0 and "TaskHandle" in done.stdout, done.stdout + done.stderr
            assert waiting() == 0
        else:
            # make redrive, with the region of the caller's profile: another
            # region's profile finds no such stack there (the Makefile once
            # set us-east-1 for every target, over the profile's region).
            make = ["make", "--no-print-directory", "redrive", f"STACK={run.stack.name}"]
            elsewhere = operator(aws, api, work, make, region="eu-west-1")
            assert elsewhere.returncode != 0, elsewhere.stdout + elsewhere.stderr
            assert f"could not read stack {run.stack.name}" in elsewhere.stderr, elsewhere.stderr
            assert waiting() == len(REFUSED), "a redrive in another region moved this stack's messages"
            done = operator(aws, api, work, make, region=local_aws.REGION)
            assert done.returncode == 0, done.stdout + done.stderr
            assert f"moved {len(REFUSED)} message(s)" in done.stdout, done.stdout
        if not isinstance(run.player, AsyncInvoker):
            assert api.invocations == 0
        run.deliver()

        after, _ = run.viewers()
        assert [r.url for r in after if r.stale] == []
        redriven = [p for batch in log.batches[before:] for p in batch]
        for url in urls_for(set(REFUSED), run.origins[distribution].index):
            assert covered(url, redriven), f"{url} not invalidated by the redrive: {redriven}"
        for url in urls_for(set(KEPT), run.origins[distribution].index):
            assert not covered(url, redriven), f"{url} was invalidated before the failure, and again: {redriven}"
        assert log.repeated == 0
        run.check(failures=failures)
    except BaseException:
        print(f"--- last lines of the function's log:\n{log_tail(run.function.log_path)}")
        raise
    finally:
        api.stop()
        run.stop()
        gate.stop()


PROBE = "cloudfront-invalidator-smoke-"


def smoke(aws, run, work, command: list[str], edge: EdgeServer) -> subprocess.CompletedProcess:
    """The smoke test as an operator runs it against the deployed stack,
    viewers reaching the distribution through `edge`, while the played Lambda
    service delivers what S3 sends."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")} | aws.environment() | {
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "HOME": str(work),
        "TMPDIR": str(work / "tmp"),
        "SMOKE_BASE_URL": edge.url,
        # Moments here, not the minutes CloudFront takes.
        "SMOKE_TIMEOUT": "120",
    }
    (work / "tmp").mkdir(parents=True, exist_ok=True)
    start = time.monotonic()
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    while process.poll() is None:
        run.deliver()
        time.sleep(0.2)
    stdout, stderr = process.communicate()
    with open(work / "smoke.out", "a") as out:
        out.write(f"$ {' '.join(command)}  (exit {process.returncode}, {time.monotonic() - start:.1f} s)\n{stdout}{stderr}\n")
    run.deliver()  # the probe's removal
    return subprocess.CompletedProcess(command, process.returncode, stdout, stderr)


@pytest.mark.parametrize(
    "wiring, discover", [("bucket-to-queue", False), ("bucket-to-function", True)], ids=["queue-listed", "function-auto"]
)
def test_the_smoke_test_sees_a_change_reach_viewers_and_says_when_it_does_not(aws, work_root, wiring, discover):
    """`make smoke` (the default wiring, deployed without a Wiring, with
    listed distributions) and dist/'s
    smoke.sh (bucket-to-function, auto) against a deployed stack whose
    distribution serves it under an origin path, viewers reading through the
    edge model: one line, OK, the probe gone afterwards. Then one line that
    says why not: with edges that never apply an invalidation, the old content
    still served (queue); with a distribution that cannot read the bucket,
    the 403 and what to check (function)."""
    work = work_root / f"smoke-{wiring}"
    # The queue case is the stack as deployed with no Wiring given.
    run = Run(aws, work, "smoke", wiring, discover, origin_paths=("/site",), default_wiring=not discover)
    cloudfront, s3 = aws.client("cloudfront"), aws.client("s3")
    (distribution,) = run.ids
    command = (["make", "--no-print-directory", "-s", "smoke", f"STACK={run.stack.name}"] if not discover
               else ["bash", str(packaged(work) / "smoke.sh"), run.stack.name])
    edges = []
    try:
        edges.append(EdgeServer(s3, cloudfront, distribution, run.origins[distribution]))
        done = smoke(aws, run, work, command, edges[-1])
        lines = done.stdout.strip().splitlines()
        assert done.returncode == 0 and len(lines) == 1, done.stdout + done.stderr
        assert re.fullmatch(rf"smoke: OK: {re.escape(edges[-1].url)}/{PROBE}\S+\.txt served the change \d+ s after it "
                            rf"\(invalidation \w+ of {distribution}, Completed\)", lines[0]), lines[0]
        # Read before the change, then again after the invalidation.
        assert [(status, cached) for _, status, cached in edges[-1].served] == [(200, False), (200, False)]
        keys = s3.list_objects_v2(Bucket=run.bucket).get("Contents", [])
        assert not [k["Key"] for k in keys if PROBE in k["Key"]], "the probe is still in the bucket"

        if not discover:
            edges.append(EdgeServer(s3, cloudfront, distribution, run.origins[distribution], invalidating=False))
            why = "still served the old content after invalidation"
        else:
            edges.append(EdgeServer(s3, cloudfront, distribution, run.origins[distribution], reads_origin=False))
            why = "answered 403: the distribution cannot read the bucket (an origin access control"
        failed = smoke(aws, run, work, command, edges[-1])
        lines = failed.stdout.strip().splitlines()
        assert failed.returncode != 0 and len(lines) == 1, failed.stdout + failed.stderr
        assert lines[0].startswith("smoke: FAILED: ") and why in lines[0], lines[0]
        keys = s3.list_objects_v2(Bucket=run.bucket).get("Contents", [])
        assert not [k["Key"] for k in keys if PROBE in k["Key"]], "a failed smoke test left its probe"
        run.check()
    except BaseException:
        print(f"--- last lines of the function's log:\n{log_tail(run.function.log_path)}")
        raise
    finally:
        for edge in edges:
            edge.stop()
        run.stop()


@pytest.mark.parametrize("wiring", ["bucket-to-function", "bucket-to-queue"])
def test_bounded_planners_and_a_stopped_watch_consumer_is_heard_of(aws, work_root, wiring):
    """What the deployed stack bounds and watches, as the AWS APIs report it.
    The invocations that plan: bucket-to-function's reserved concurrency (10
    unless ReservedConcurrency says), the changes queue's mapping's
    MaximumConcurrency in the queue wirings (the queue by default), each the
    function's MAX_CONCURRENCY. And with the watch queue's consumer stopped
    (its mapping not played: disabled, or its permission gone), an
    invalidation's watch message waits unreceived in the deployed watch queue,
    whose age the deployed watch-stalled alarm watches, by the queue's real
    name, and reports to the alarm topic before SQS would drop the message."""
    work = work_root / f"watch-stalled-{wiring}"
    run = Run(aws, work, "watch", wiring, discover=False, origin_paths=("",))
    sqs, cloudwatch = aws.client("sqs"), aws.client("cloudwatch")
    try:
        variables = run.stack.function["Environment"]["Variables"]
        if wiring == "bucket-to-function":
            assert run.stack.reserved_concurrency == int(variables["MAX_CONCURRENCY"]) == 10
        else:
            assert run.stack.changes.mapping["ScalingConfig"] == {"MaximumConcurrency": int(variables["MAX_CONCURRENCY"])}
            assert run.stack.reserved_concurrency is None

        watch_url = run.stack.outputs["WatchQueueUrl"]
        (watching,) = [p for p in run.pollers if p.queue_url == watch_url]
        run.pollers.remove(watching)  # the watch consumer, stopped
        aws.client("s3").put_object(Bucket=run.bucket, Key="css/site.css", Body=b"body { color: red }")
        run.deliver()
        assert run.logs[run.ids[0]].requests == 1, "no invalidation was created"
        aws.let_delays_pass(watch_url)
        attrs = sqs.get_queue_attributes(QueueUrl=watch_url, AttributeNames=["All"])["Attributes"]
        assert (attrs["ApproximateNumberOfMessages"], attrs["ApproximateNumberOfMessagesNotVisible"]) == ("1", "0"), attrs

        (alarm,) = cloudwatch.describe_alarms(AlarmNames=[f"{run.stack.name}-watch-stalled"])["MetricAlarms"]
        queue_name = watch_url.rsplit("/", 1)[1]
        assert (alarm["Namespace"], alarm["MetricName"]) == ("AWS/SQS", "ApproximateAgeOfOldestMessage")
        assert alarm["Dimensions"] == [{"Name": "QueueName", "Value": queue_name}]
        assert alarm["ComparisonOperator"] == "GreaterThanThreshold"
        assert alarm["Threshold"] * 10 < int(attrs["MessageRetentionPeriod"])
        topic = run.stack.outputs["AlarmTopicArn"]
        assert alarm["AlarmActions"] == alarm["OKActions"] == [topic]

        # Started again, the consumer takes it, and the queues drain.
        run.pollers.append(watching)
        run.deliver()
        run.check()
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
    keep("demo.txt", "make demo (in make stack-test)", done.stdout)
