"""template.yaml as each Wiring deploys it, checked offline.

Every scenario is translated by SAM's own translator, its Conditions evaluated
for that scenario's parameters, and the resulting stack linted with cfn-lint and
compared with what it must hold: the least-privilege role, encrypted queues, a
bucket closed to the public and to plain HTTP, one allowed sender per queue, and
the batch settings of the event source mapping.
"""

from __future__ import annotations

import copy
import json
import re
import shutil
import subprocess
from dataclasses import dataclass
from functools import cache

import pytest
from cfnlint.api import lint

from cfn_eval import PSEUDO, STACK_UUID, Deployment, load_sam, references, translate

MODES = ["bucket-to-function", "bucket-to-queue", "existing-bucket"]
QUEUE_MODES = {"bucket-to-queue", "existing-bucket"}
BUCKET_MODES = {"bucket-to-function", "bucket-to-queue"}
EXISTING_BUCKET = "my-existing-site"
ACCOUNT = PSEUDO["AWS::AccountId"]
STACK_BUCKET = f"cf-invalidator-{STACK_UUID}"
BASIC_LOGS = "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"

COMMON = {
    "InvalidatorFunction",
    "InvalidatorFunctionRole",
    "InvalidatorFunctionEventInvokeConfig",
    "FunctionLogGroup",
    "DeadLetterQueue",
    "DeadLetterQueuePolicy",
}
EXPECTED_RESOURCES = {
    "bucket-to-function": COMMON | {"Bucket", "BucketPolicy", "BucketInvokePermission"},
    "bucket-to-queue": COMMON | {"Bucket", "BucketPolicy", "Queue", "QueuePolicy", "QueueEventSourceMapping"},
    "existing-bucket": COMMON | {"Queue", "QueuePolicy", "ObjectEventsRule", "QueueEventSourceMapping"},
}


@dataclass(frozen=True)
class Scenario:
    mode: str
    ids: tuple[str, ...]
    # (BatchSize, BatchWindowSeconds); None leaves both at their defaults.
    batch: tuple[int, int] | None = None

    @property
    def batch_size(self) -> int:
        return (self.batch or (1000, 60))[0]

    @property
    def batch_window(self) -> int:
        return (self.batch or (1000, 60))[1]

    @property
    def params(self) -> dict[str, str]:
        # Strings, as CloudFormation receives every parameter value.
        params = {"Wiring": self.mode, "DistributionIds": ",".join(self.ids)}
        if self.batch:
            params |= {"BatchSize": str(self.batch[0]), "BatchWindowSeconds": str(self.batch[1])}
        if self.mode == "existing-bucket":
            params["ExistingBucketName"] = EXISTING_BUCKET
        return params

    @property
    def distribution_arns(self) -> list[str]:
        return [f"arn:*:cloudfront::*:distribution/{i}" for i in self.ids]

    def __str__(self) -> str:
        return f"{self.mode}-{len(self.ids)}id"


# One distribution with the default batch settings, two with others, so a
# hard-coded value in the template cannot pass for a parameter.
SCENARIOS = [
    s
    for mode in MODES
    for s in (
        Scenario(mode, ("E1AAAAAAAAAAAA",)),
        Scenario(mode, ("E1AAAAAAAAAAAA", "E2BBBBBBBBBBBB"), batch=(250, 20)),
    )
]
by_scenario = pytest.mark.parametrize("scenario", SCENARIOS, ids=str)


@cache
def sam() -> dict:
    return load_sam()


@cache
def translated(scenario: Scenario) -> dict:
    return translate(sam(), scenario.params)


def deployment(scenario: Scenario) -> Deployment:
    return Deployment(translated(scenario), scenario.params)


def statements(policy_document: dict) -> list[dict]:
    found = policy_document["Statement"]
    return found if isinstance(found, list) else [found]


def as_list(value) -> list:
    return value if isinstance(value, list) else [value]


def of_type(resources: dict, kind: str) -> dict:
    return {name: r for name, r in resources.items() if r["Type"] == kind}


def allows(policy_document: dict) -> list[dict]:
    return [{k: v for k, v in s.items() if k != "Sid"} for s in statements(policy_document) if s["Effect"] == "Allow"]


def assert_denies_plain_http(policy_document: dict, action: str, resources: set[str]) -> None:
    denies = [s for s in statements(policy_document) if s["Effect"] == "Deny"]
    assert any(
        s["Principal"] == "*"
        and as_list(s["Action"]) == [action]
        and set(as_list(s["Resource"])) == resources
        and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
        for s in denies
    ), f"no statement denying {action} without TLS on {resources}: {denies}"


# -- checks, shared by the scenario tests and the tests that show they bite ---


def check_role(resources: dict, scenario: Scenario) -> None:
    iam = {name for name, r in resources.items() if r["Type"].startswith("AWS::IAM::")}
    assert iam == {"InvalidatorFunctionRole"}, f"IAM resources besides the function role: {iam}"
    role = resources["InvalidatorFunctionRole"]["Properties"]
    assert resources["InvalidatorFunction"]["Properties"]["Role"] == "<InvalidatorFunctionRole.Arn>"
    assert role["AssumeRolePolicyDocument"]["Statement"] == [
        {"Action": ["sts:AssumeRole"], "Effect": "Allow", "Principal": {"Service": ["lambda.amazonaws.com"]}}
    ]
    assert role["ManagedPolicyArns"] == [BASIC_LOGS], "only the basic logging policy may be attached"

    grants: dict[str, list[str]] = {}
    for policy in role["Policies"]:
        for s in statements(policy["PolicyDocument"]):
            assert s["Effect"] == "Allow", s
            assert set(s) <= {"Sid", "Effect", "Action", "Resource"}, f"NotAction/NotResource/Condition: {s}"
            for action in as_list(s["Action"]):
                assert "*" not in action, f"wildcard action {action}"
                grants.setdefault(action, []).extend(as_list(s["Resource"]))

    expected = {
        "cloudfront:CreateInvalidation": scenario.distribution_arns,
        "sqs:SendMessage": ["<DeadLetterQueue.Arn>"],
    }
    if scenario.mode in QUEUE_MODES:
        for action in ("sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"):
            expected[action] = ["<Queue.Arn>"]
    assert {a: sorted(r) for a, r in grants.items()} == {a: sorted(r) for a, r in expected.items()}


def check_bucket(resources: dict, scenario: Scenario) -> None:
    buckets = of_type(resources, "AWS::S3::Bucket")
    if scenario.mode not in BUCKET_MODES:
        assert buckets == {} and of_type(resources, "AWS::S3::BucketPolicy") == {}, "existing-bucket makes no bucket"
        return
    assert set(buckets) == {"Bucket"}
    bucket = resources["Bucket"]["Properties"]
    assert bucket["BucketName"] == STACK_BUCKET
    assert bucket["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    assert bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    policy = resources["BucketPolicy"]["Properties"]
    assert policy["Bucket"] == "<Bucket>"
    document = policy["PolicyDocument"]
    assert_denies_plain_http(document, "s3:*", {"<Bucket.Arn>", "<Bucket.Arn>/*"})
    # The only grant: the configured distributions reading objects.
    assert allows(document) == [
        {
            "Effect": "Allow",
            "Principal": {"Service": "cloudfront.amazonaws.com"},
            "Action": "s3:GetObject",
            "Resource": "<Bucket.Arn>/*",
            "Condition": {
                "StringEquals": {"aws:SourceAccount": ACCOUNT},
                "ArnLike": {"aws:SourceArn": scenario.distribution_arns},
            },
        }
    ]


def check_notifications(resources: dict, scenario: Scenario) -> None:
    events = ["s3:ObjectCreated:*", "s3:ObjectRemoved:*"]
    if scenario.mode not in BUCKET_MODES:
        assert "Bucket" not in resources
        return
    notification = resources["Bucket"]["Properties"]["NotificationConfiguration"]
    if scenario.mode == "bucket-to-function":
        assert notification == {
            "LambdaConfigurations": [{"Event": e, "Function": "<InvalidatorFunction.Arn>"} for e in events]
        }
    else:
        assert notification == {"QueueConfigurations": [{"Event": e, "Queue": "<Queue.Arn>"} for e in events]}


def check_invoke_permissions(resources: dict, scenario: Scenario) -> None:
    permissions = [r["Properties"] for r in of_type(resources, "AWS::Lambda::Permission").values()]
    if scenario.mode != "bucket-to-function":
        assert permissions == [], "only bucket-to-function lets S3 invoke the function"
        return
    assert permissions == [
        {
            "Action": "lambda:InvokeFunction",
            "FunctionName": "<InvalidatorFunction>",
            "Principal": "s3.amazonaws.com",
            "SourceAccount": ACCOUNT,
            "SourceArn": f"arn:aws:s3:::{resources['Bucket']['Properties']['BucketName']}",
        }
    ]


def check_queues(resources: dict, scenario: Scenario) -> None:
    queues = of_type(resources, "AWS::SQS::Queue")
    assert set(queues) == ({"Queue", "DeadLetterQueue"} if scenario.mode in QUEUE_MODES else {"DeadLetterQueue"})
    for name, queue in queues.items():
        props = queue["Properties"]
        assert props.get("SqsManagedSseEnabled") is True or props.get("KmsMasterKeyId"), f"{name} is not encrypted"
    dlq_policy = resources["DeadLetterQueuePolicy"]["Properties"]
    assert dlq_policy["Queues"] == ["<DeadLetterQueue>"]
    assert_denies_plain_http(dlq_policy["PolicyDocument"], "sqs:*", {"<DeadLetterQueue.Arn>"})
    assert allows(dlq_policy["PolicyDocument"]) == []
    if scenario.mode not in QUEUE_MODES:
        return

    queue = queues["Queue"]["Properties"]
    timeout = resources["InvalidatorFunction"]["Properties"]["Timeout"]
    longest_window = int(sam()["Parameters"]["BatchWindowSeconds"]["MaxValue"])
    # AWS: at least six function timeouts; the batching window comes on top.
    assert queue["VisibilityTimeout"] >= 6 * timeout + longest_window
    assert queue["RedrivePolicy"] == {"deadLetterTargetArn": "<DeadLetterQueue.Arn>", "maxReceiveCount": 5}
    # A moved message keeps its enqueue time, so the DLQ must keep it longer.
    dlq_retention = queues["DeadLetterQueue"]["Properties"]["MessageRetentionPeriod"]
    assert 4 * 86400 <= queue["MessageRetentionPeriod"] < dlq_retention


def check_queue_policy(resources: dict, scenario: Scenario) -> None:
    if scenario.mode not in QUEUE_MODES:
        assert set(of_type(resources, "AWS::SQS::QueuePolicy")) == {"DeadLetterQueuePolicy"}
        return
    policy = resources["QueuePolicy"]["Properties"]
    assert policy["Queues"] == ["<Queue>"]
    document = policy["PolicyDocument"]
    assert_denies_plain_http(document, "sqs:*", {"<Queue.Arn>"})
    if scenario.mode == "bucket-to-queue":
        sender = {"Service": "s3.amazonaws.com"}
        condition = {
            "ArnEquals": {"aws:SourceArn": f"arn:aws:s3:::{resources['Bucket']['Properties']['BucketName']}"},
            "StringEquals": {"aws:SourceAccount": ACCOUNT},
        }
    else:
        sender = {"Service": "events.amazonaws.com"}
        condition = {"ArnEquals": {"aws:SourceArn": "<ObjectEventsRule.Arn>"}}
    assert allows(document) == [
        {
            "Effect": "Allow",
            "Principal": sender,
            "Action": "sqs:SendMessage",
            "Resource": "<Queue.Arn>",
            "Condition": condition,
        }
    ]


def check_event_source_mapping(resources: dict, scenario: Scenario) -> None:
    mappings = of_type(resources, "AWS::Lambda::EventSourceMapping")
    if scenario.mode not in QUEUE_MODES:
        assert mappings == {}
        return
    (mapping,) = mappings.values()
    props = mapping["Properties"]
    assert props["EventSourceArn"] == "<Queue.Arn>"
    assert props["FunctionName"] == "<InvalidatorFunction>"
    assert props.get("Enabled", True) is True
    assert props.get("FunctionResponseTypes") == ["ReportBatchItemFailures"]
    assert int(props["BatchSize"]) == scenario.batch_size
    assert int(props["MaximumBatchingWindowInSeconds"]) == scenario.batch_window
    assert props["ScalingConfig"] == {"MaximumConcurrency": 2}


def check_rule(resources: dict, scenario: Scenario) -> None:
    rules = of_type(resources, "AWS::Events::Rule")
    if scenario.mode != "existing-bucket":
        assert rules == {}
        return
    (rule,) = rules.values()
    props = rule["Properties"]
    pattern = props["EventPattern"]
    assert pattern["source"] == ["aws.s3"]
    assert sorted(pattern["detail-type"]) == ["Object Created", "Object Deleted"]
    assert pattern.get("detail") == {"bucket": {"name": [EXISTING_BUCKET]}}
    assert set(pattern) == {"source", "detail-type", "detail"}
    assert props.get("State", "ENABLED") == "ENABLED"
    assert [t["Arn"] for t in props["Targets"]] == ["<Queue.Arn>"]


CHECKS = [
    check_role,
    check_bucket,
    check_notifications,
    check_invoke_permissions,
    check_queues,
    check_queue_policy,
    check_event_source_mapping,
    check_rule,
]


# -- the scenarios -------------------------------------------------------------


@by_scenario
def test_parameters_pass_the_rules(scenario):
    assert deployment(scenario).failed_rules() == []


@by_scenario
def test_cfn_lint_finds_nothing(scenario):
    template = deployment(scenario).without_conditions()
    matches = lint(json.dumps(template), regions=[PSEUDO["AWS::Region"]])
    assert [str(m) for m in matches] == []


@by_scenario
def test_creates_only_what_the_wiring_uses(scenario):
    d = deployment(scenario)
    assert set(d.resources()) == EXPECTED_RESOURCES[scenario.mode]
    outputs = set(d.kept("Outputs"))
    assert ("BucketName" in outputs) == (scenario.mode in BUCKET_MODES)
    assert ("QueueUrl" in outputs) == (scenario.mode in QUEUE_MODES)


@by_scenario
@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.__name__.removeprefix("check_"))
def test_stack(scenario, check):
    check(deployment(scenario).resources(), scenario)


@by_scenario
def test_function_and_its_logs(scenario):
    resources = deployment(scenario).resources()
    function = resources["InvalidatorFunction"]["Properties"]
    assert function["Timeout"] == 180
    assert function["Environment"]["Variables"]["DISTRIBUTION_IDS"] == ",".join(scenario.ids)
    assert function["LoggingConfig"]["LogGroup"] == "<FunctionLogGroup>"
    assert resources["FunctionLogGroup"]["Properties"]["RetentionInDays"] == 30
    on_failure = resources["InvalidatorFunctionEventInvokeConfig"]["Properties"]["DestinationConfig"]["OnFailure"]
    assert on_failure["Destination"] == "<DeadLetterQueue.Arn>"


@pytest.mark.parametrize("scenario", [s for s in SCENARIOS if s.mode in BUCKET_MODES], ids=str)
def test_bucket_comes_after_what_s3_checks(scenario):
    """S3 tests a notification's destination when it is set: the bucket must be
    created after the permission or queue policy that lets it through."""
    bucket = deployment(scenario).without_conditions()["Resources"]["Bucket"]
    needed = "BucketInvokePermission" if scenario.mode == "bucket-to-function" else "QueuePolicy"
    assert needed in references(bucket) | set(as_list(bucket.get("DependsOn", [])))


# -- the Rules, parameters and checks themselves -------------------------------


@pytest.mark.parametrize(
    "params, broken",
    [
        ({"Wiring": "existing-bucket"}, "needs ExistingBucketName"),
        ({"Wiring": "bucket-to-queue", "BatchWindowSeconds": "0"}, "BatchSize above 10"),
        (
            {"Wiring": "existing-bucket", "ExistingBucketName": "b1", "BatchSize": "11", "BatchWindowSeconds": "0"},
            "BatchSize above 10",
        ),
        ({"Wiring": "bucket-to-queue", "BatchSize": "10", "BatchWindowSeconds": "0"}, None),
        # Without a queue the batch settings are unused, so they may be anything.
        ({"Wiring": "bucket-to-function", "BatchWindowSeconds": "0"}, None),
    ],
)
def test_rules(params, broken):
    failed = Deployment(sam(), {"DistributionIds": "E1AAAAAAAAAAAA", **params}).failed_rules()
    if broken is None:
        assert failed == []
    else:
        assert len(failed) == 1 and broken in failed[0], failed


def test_parameters():
    params = sam()["Parameters"]
    assert params["Wiring"]["AllowedValues"] == MODES
    assert params["Wiring"]["Default"] == "bucket-to-function"
    size, window = params["BatchSize"], params["BatchWindowSeconds"]
    assert (size["Default"], size["MinValue"], size["MaxValue"]) == (1000, 1, 10000)
    assert (window["Default"], window["MinValue"], window["MaxValue"]) == (60, 0, 300)
    # CloudFormation matches AllowedPattern against the whole value.
    bucket_pattern = params["ExistingBucketName"]["AllowedPattern"]
    for good in ("", EXISTING_BUCKET, "a.b-c"):
        assert re.fullmatch(bucket_pattern, good), good
    for bad in ("My_Site", "-site", "s3://site", "arn:aws:s3:::site"):
        assert not re.fullmatch(bucket_pattern, bad), bad


def _widen_role(r):
    r["InvalidatorFunctionRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"].append(
        {"Effect": "Allow", "Action": "sqs:*", "Resource": "*"}
    )


def _extra_distribution(r):
    for policy in r["InvalidatorFunctionRole"]["Properties"]["Policies"]:
        for s in statements(policy["PolicyDocument"]):
            if s["Action"] == "cloudfront:CreateInvalidation":
                s["Resource"] = as_list(s["Resource"]) + ["arn:*:cloudfront::*:distribution/*"]


def _invoke_from_any_bucket(r):
    del r["BucketInvokePermission"]["Properties"]["SourceArn"]


def _any_bucket_events(r):
    del r["ObjectEventsRule"]["Properties"]["EventPattern"]["detail"]


def _open_queue(r):
    for s in statements(r["QueuePolicy"]["Properties"]["PolicyDocument"]):
        if s["Effect"] == "Allow":
            del s["Condition"]


# Each a way the template could go wrong, applied to the wiring it concerns.
MUTATIONS = [
    pytest.param("bucket-to-queue", _widen_role, check_role, id="role-gets-sqs-star"),
    pytest.param("bucket-to-queue", _extra_distribution, check_role, id="role-gets-every-distribution"),
    pytest.param(
        "bucket-to-queue",
        lambda r: r["Bucket"]["Properties"]["PublicAccessBlockConfiguration"].update(BlockPublicPolicy=False),
        check_bucket,
        id="bucket-allows-public-policy",
    ),
    pytest.param(
        "bucket-to-queue",
        lambda r: r["BucketPolicy"]["Properties"]["PolicyDocument"]["Statement"].pop(0),
        check_bucket,
        id="bucket-allows-plain-http",
    ),
    pytest.param(
        "bucket-to-queue",
        lambda r: r["Bucket"]["Properties"]["NotificationConfiguration"]["QueueConfigurations"].pop(),
        check_notifications,
        id="removals-not-notified",
    ),
    pytest.param("bucket-to-function", _invoke_from_any_bucket, check_invoke_permissions, id="invoke-from-any-bucket"),
    pytest.param(
        "existing-bucket",
        lambda r: r["Queue"]["Properties"].update(SqsManagedSseEnabled=False),
        check_queues,
        id="queue-unencrypted",
    ),
    pytest.param(
        "existing-bucket",
        lambda r: r["Queue"]["Properties"].update(VisibilityTimeout=1080),
        check_queues,
        id="visibility-without-window",
    ),
    pytest.param("bucket-to-queue", _open_queue, check_queue_policy, id="queue-open-to-any-bucket"),
    pytest.param("existing-bucket", _open_queue, check_queue_policy, id="queue-open-to-any-rule"),
    pytest.param(
        "bucket-to-queue",
        lambda r: r["QueueEventSourceMapping"]["Properties"].pop("FunctionResponseTypes"),
        check_event_source_mapping,
        id="no-partial-batch-response",
    ),
    pytest.param(
        "existing-bucket",
        lambda r: r["QueueEventSourceMapping"]["Properties"].update(BatchSize="10"),
        check_event_source_mapping,
        id="batch-size-ignores-parameter",
    ),
    pytest.param("existing-bucket", _any_bucket_events, check_rule, id="rule-for-every-bucket"),
]


@pytest.mark.parametrize("mode, mutate, check", MUTATIONS)
def test_checks_catch_a_broken_stack(mode, mutate, check):
    scenario = next(s for s in SCENARIOS if s.mode == mode and len(s.ids) == 2)
    resources = copy.deepcopy(deployment(scenario).resources())
    check(copy.deepcopy(resources), scenario)  # passes as deployed...
    mutate(resources)
    with pytest.raises(AssertionError):  # ...and fails once broken
        check(resources, scenario)


def test_lint_catches_a_reference_to_a_resource_the_wiring_leaves_out():
    """The trap the bucket's CreatedAfter reference avoids: pointing at the
    queue policy in every wiring breaks bucket-to-function."""
    broken = copy.deepcopy(sam())
    broken["Resources"]["Bucket"]["Metadata"]["CreatedAfter"] = {"Ref": "QueuePolicy"}
    scenario = SCENARIOS[0]
    template = Deployment(translate(broken, scenario.params), scenario.params).without_conditions()
    matches = [str(m) for m in lint(json.dumps(template), regions=[PSEUDO["AWS::Region"]])]
    assert any("QueuePolicy" in m for m in matches), matches


@pytest.mark.parametrize("mode", MODES)
def test_checkov_passes_every_wiring(mode, tmp_path):
    """checkov evaluates Conditions with the parameters' defaults, so the
    project's own run covers bucket-to-function only: make each wiring the
    default in turn."""
    checkov = shutil.which("checkov")
    if checkov is None:
        pytest.fail("checkov is not on PATH: `make tools` installs it into .venv/checkov")
    template = copy.deepcopy(sam())
    template["Parameters"]["Wiring"]["Default"] = mode
    template["Parameters"]["ExistingBucketName"]["Default"] = EXISTING_BUCKET
    path = tmp_path / f"{mode}.json"
    path.write_text(json.dumps(template))
    run = subprocess.run(
        [checkov, "--compact", "--skip-download", "--framework", "cloudformation", "-o", "json", "-f", str(path)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    report = json.loads(run.stdout)
    failed = [(c["check_id"], c["resource"]) for c in report["results"]["failed_checks"]]
    assert failed == [] and run.returncode == 0, failed or run.stderr
    scanned = {c["resource"] for kind in ("passed_checks", "skipped_checks") for c in report["results"][kind]}
    assert ("AWS::SQS::Queue.Queue" in scanned) == (mode in QUEUE_MODES), "checkov did not scan this wiring"
