"""template.yaml as each Wiring deploys it, checked offline.

Every scenario is translated by SAM's own translator, its Conditions evaluated
for that scenario's parameters, and the resulting stack linted with cfn-lint and
compared with what it must hold: the least-privilege role (with its
boundary and tracing when asked), encrypted queues, a bucket closed to the
public and to plain HTTP that outlives the stack, one allowed sender per queue
and one source per dead-letter queue, the batch settings of the event source
mapping, the bound on the invocations that plan (MAX_CONCURRENCY, the
mapping's MaximumConcurrency, the reserved concurrency), the retry ladder
against the receive count, and the function's settings; and for operating it:
the watch queue that follows each invalidation to Completed, the alarms (what
each reads, when it is OK again, the plain command it gives) and the topics
that take them, each with one publisher over TLS, the dashboard (its JSON
parsed, every metric checked against what the function emits), and the saved
Logs Insights queries (every field checked against what the function logs).
Each wiring is tried with listed distributions (some with an origin path) and
with discovery (DistributionIds auto), with completion notices on and off, and
with the stack's own alarm topic and an existing one.
"""

from __future__ import annotations

import copy
import json
import re
import shutil
import subprocess
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest
from cfnlint.api import lint

from cfn_eval import PSEUDO, STACK_UUID, Deployment, load_sam, references, translate

ROOT = Path(__file__).resolve().parents[2]
MODES = ["bucket-to-function", "bucket-to-queue", "existing-bucket"]
QUEUE_MODES = {"bucket-to-queue", "existing-bucket"}
BUCKET_MODES = {"bucket-to-function", "bucket-to-queue"}
EXISTING_BUCKET = "my-existing-site"
ACCOUNT = PSEUDO["AWS::AccountId"]
STACK_BUCKET = f"cf-invalidator-{STACK_UUID}"
BASIC_LOGS = "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"
ACCOUNT_DISTRIBUTIONS = f"arn:aws:cloudfront::{ACCOUNT}:distribution/*"
LIST_DISTRIBUTIONS = {"Effect": "Allow", "Action": "cloudfront:ListDistributions", "Resource": "*"}
# Every cache policy the account's behaviors may name, AWS's managed ones read
# as the account's too: their IDs are not known before.
CACHE_POLICIES = f"arn:aws:cloudfront::{ACCOUNT}:cache-policy/*"

# The function's settings besides the distributions: parameter, variable, and
# the default the function itself assumes when the variable is unset.
SETTINGS = {
    "OriginPath": ("ORIGIN_PATH", ""),
    "BucketDomains": ("BUCKET_DOMAINS", ""),
    "DryRun": ("DRY_RUN", "false"),
    "IndexDocument": ("INDEX_DOCUMENT", "index.html"),
    "Include": ("INCLUDE", ""),
    "Exclude": ("EXCLUDE", ""),
    "SkipHashedNames": ("SKIP_HASHED_NAMES", "false"),
    "MaxPaths": ("MAX_PATHS", "100"),
}

COMMON = {
    "InvalidatorFunction",
    "InvalidatorFunctionRole",
    "InvalidatorFunctionEventInvokeConfig",
    "FunctionLogGroup",
    "DeadLetterQueue",
    "DeadLetterQueuePolicy",
    # Operating it, in every wiring.
    "WatchQueue",
    "WatchDeadLetterQueue",
    "WatchQueuePolicy",
    "WatchEventSourceMapping",
    "DeadLetterAlarm",
    "FunctionErrorsAlarm",
    "QueueAgeAlarm",
    "WatchAgeAlarm",
    "NotFreshAlarm",
    "NotServingAlarm",
    "ServedByNoneAlarm",
    "Dashboard",
    "KeyQuery",
    "InvalidationsQuery",
    "FailuresQuery",
    "FreshQuery",
    "InvalidationQuery",
}
EXPECTED_RESOURCES = {
    "bucket-to-function": COMMON | {"Bucket", "BucketPolicy", "BucketInvokePermission", "EventDroppedAlarm"},
    "bucket-to-queue": COMMON
    | {"Bucket", "BucketPolicy", "Queue", "QueuePolicy", "QueueEventSourceMapping", "FunctionThrottlesAlarm"},
    "existing-bucket": COMMON
    | {"Queue", "QueuePolicy", "ObjectEventsRule", "QueueEventSourceMapping", "FunctionThrottlesAlarm"},
}

# The operations parameters and their defaults.
OPS_DEFAULTS = {
    "MetricsNamespace": "CloudFrontInvalidator",
    "FreshTimeoutMinutes": "60",
    "FreshNotices": "false",
    "AlarmTopicArn": "",
    "AlarmEmail": "",
    "QueueAgeAlarmSeconds": "1800",
    # What production accounts require of a stack.
    "PermissionsBoundary": "",
    "LogRetentionDays": "30",
    "Tracing": "Disabled",
    # existing-bucket: writes to the bucket without events.
    "RequestMetricsFilterId": "",
    "EventsMissingAlarmSeconds": "3600",
}
BOUNDARY = f"arn:aws:iam::{ACCOUNT}:policy/team-boundary"
XRAY = "arn:aws:iam::aws:policy/AWSXrayWriteOnlyAccess"
EXISTING_TOPIC = f"arn:aws:sns:us-east-1:{ACCOUNT}:ops-pager"
# How many invocations may plan at once (the function's MAX_CONCURRENCY): the
# changes queue's mapping's, or bucket-to-function's reserved concurrency when
# ReservedConcurrency is empty.
QUEUE_PLANNERS = 2
DIRECT_PLANNERS = 10
# Tries of a change before the dead-letter queue (the changes queue's
# maxReceiveCount).
MAX_RECEIVES = 6


@dataclass(frozen=True)
class Scenario:
    mode: str
    ids: tuple[str, ...]
    # (BatchSize, BatchWindowSeconds); None leaves both at their defaults.
    batch: tuple[int, int] | None = None
    # Parameters of SETTINGS given a value; the others keep their defaults.
    settings: tuple[tuple[str, str], ...] = ()
    # Parameters of OPS_DEFAULTS given a value.
    ops: tuple[tuple[str, str], ...] = ()
    # ReservedConcurrency; empty leaves it at its default.
    reserved: str = ""

    def op(self, name: str) -> str:
        return dict(self.ops).get(name, OPS_DEFAULTS[name])

    @property
    def notices(self) -> bool:
        return self.op("FreshNotices") == "true"

    @property
    def alarm_topic(self) -> str:
        """Where the alarms must go: the stack's topic, or the one given."""
        return self.op("AlarmTopicArn") or "<AlarmTopic>"

    @property
    def discover(self) -> bool:
        return self.ids == ("auto",)

    @property
    def batch_size(self) -> int:
        return (self.batch or (10000, 60))[0]

    @property
    def batch_window(self) -> int:
        return (self.batch or (10000, 60))[1]

    @property
    def params(self) -> dict[str, str]:
        # Strings, as CloudFormation receives every parameter value.
        params = {"Wiring": self.mode, "DistributionIds": ",".join(self.ids)} | dict(self.settings) | dict(self.ops)
        if self.batch:
            params |= {"BatchSize": str(self.batch[0]), "BatchWindowSeconds": str(self.batch[1])}
        if self.mode == "existing-bucket":
            params["ExistingBucketName"] = EXISTING_BUCKET
        if self.reserved:
            params["ReservedConcurrency"] = self.reserved
        return params

    @property
    def reserved_concurrency(self) -> int | None:
        """The function's reserved concurrency: always in bucket-to-function
        (the bound on its invocations), in the queue wirings only when given."""
        if self.mode == "bucket-to-function":
            return int(self.reserved or DIRECT_PLANNERS)
        return int(self.reserved) if self.reserved else None

    @property
    def planners(self) -> int:
        """MAX_CONCURRENCY: what bounds the invocations that plan."""
        return self.reserved_concurrency if self.mode == "bucket-to-function" else QUEUE_PLANNERS

    @property
    def listed(self) -> list[str]:
        """The distribution IDs given, without their origin paths."""
        return [] if self.discover else [item.split("=", 1)[0] for item in self.ids]

    @property
    def distribution_arns(self) -> list[str]:
        """What the role may invalidate and the bucket lets read: the listed
        IDs, and for each `ID=/path` item an entry `distribution//path` that
        matches no distribution (see the note above Resources in the
        template); with discovery, the account's distributions."""
        if self.discover:
            return [ACCOUNT_DISTRIBUTIONS]
        paths = [item.split("=", 1)[1] for item in self.ids if "=" in item]
        return [f"arn:*:cloudfront::*:distribution/{i}" for i in self.listed + paths]

    @property
    def environment(self) -> dict[str, str]:
        given = dict(self.settings)
        env = {variable: given.get(param, default) for param, (variable, default) in SETTINGS.items()}
        return env | {
            "DISTRIBUTION_IDS": "auto" if self.discover else ",".join(self.ids),
            "METRICS_NAMESPACE": self.op("MetricsNamespace"),
            "MAX_CONCURRENCY": str(self.planners),
            "WATCH_QUEUE_URL": "<WatchQueue>",
            "FRESH_TOPIC_ARN": "<FreshTopic>" if self.notices else "",
            "QUEUE_URL": "<Queue>" if self.mode in QUEUE_MODES else "",
        }

    @property
    def watches_bucket_writes(self) -> bool:
        return self.mode == "existing-bucket" and bool(self.op("RequestMetricsFilterId"))

    @property
    def expected_resources(self) -> set[str]:
        made = EXPECTED_RESOURCES[self.mode] | ({"EventsMissingAlarm"} if self.watches_bucket_writes else set()) | ({"FreshTopic", "FreshTopicPolicy"} if self.notices else set())
        made |= set() if self.op("AlarmTopicArn") else {"AlarmTopic", "AlarmTopicPolicy"}
        return made | ({"AlarmEmailSubscription"} if self.op("AlarmEmail") else set())

    def __str__(self) -> str:
        if self.discover:
            return f"{self.mode}-auto"
        return f"{self.mode}-{len(self.ids)}id" + ("-paths" if any("=" in i for i in self.ids) else "")


# One distribution with the default batch settings, two with others, so a
# hard-coded value in the template cannot pass for a parameter; then origin
# paths per distribution, and discovery, each with settings of their own.
WITH_PATHS = ("E1AAAAAAAAAAAA", "E2BBBBBBBBBBBB=/static", "E3CCCCCCCCCCCC=/a/b.c")
PATH_SETTINGS = (
    ("OriginPath", "/site"),
    ("BucketDomains", "assets.example.com, site-ap-abc123-s3alias"),
    ("DryRun", "true"),
    ("IndexDocument", ""),
    ("Include", "static/**,media/**"),
    ("Exclude", "**/*.map"),
    ("SkipHashedNames", "true"),
    ("MaxPaths", "0"),
)
AUTO_SETTINGS = (
    ("IndexDocument", "default.htm"),
    ("Exclude", "*.tmp"),
    ("MaxPaths", "3000"),
    ("BucketDomains", "www.example.com"),
)
# Notices off and on, the stack's alarm topic and an existing one: each of the
# four in every wiring, with other values than the defaults where they vary.
TWO_OPS = (("FreshNotices", "true"), ("AlarmEmail", "ops@example.com"))
PATH_OPS = (
    ("FreshNotices", "true"),
    ("AlarmTopicArn", EXISTING_TOPIC),
    ("MetricsNamespace", "Acme/Site-Invalidator"),
    ("FreshTimeoutMinutes", "15"),
    ("QueueAgeAlarmSeconds", "900"),
    ("PermissionsBoundary", BOUNDARY),
    ("LogRetentionDays", "365"),
    ("Tracing", "Active"),
    ("RequestMetricsFilterId", "EntireBucket"),
    ("EventsMissingAlarmSeconds", "21600"),
)
AUTO_OPS = (
    ("AlarmTopicArn", EXISTING_TOPIC),
    ("AlarmEmail", "oncall@example.org"),
    ("FreshTimeoutMinutes", "1000"),
    ("LogRetentionDays", "7"),
)
SCENARIOS = [
    s
    for mode in MODES
    for s in (
        Scenario(mode, ("E1AAAAAAAAAAAA",)),
        Scenario(mode, ("E1AAAAAAAAAAAA", "E2BBBBBBBBBBBB"), batch=(250, 20), ops=TWO_OPS),
        Scenario(
            mode, WITH_PATHS, settings=PATH_SETTINGS, ops=PATH_OPS,
            reserved="15" if mode == "bucket-to-function" else "6",
        ),
        Scenario(mode, ("auto",), settings=AUTO_SETTINGS, ops=AUTO_OPS),
    )
]
by_scenario = pytest.mark.parametrize("scenario", SCENARIOS, ids=str)


def scenario_of(mode: str, kind: str) -> Scenario:
    """The scenario of `mode` with two IDs ("two"), with paths ("paths") or
    discovering ("auto")."""
    pick = {
        "two": lambda s: len(s.ids) == 2,
        "paths": lambda s: s.ids == WITH_PATHS,
        "auto": lambda s: s.discover,
    }[kind]
    return next(s for s in SCENARIOS if s.mode == mode and pick(s))


@cache
def sam() -> dict:
    return load_sam()


@cache
def translated(scenario: Scenario) -> dict:
    return translate(sam(), scenario.params)


def deployment(scenario: Scenario) -> Deployment:
    return Deployment(translated(scenario), scenario.params)


def lint_scenario(d: Deployment, template: dict | None = None) -> list[str]:
    """cfn-lint's findings on one evaluated stack (or `template`, made from it),
    with the deployment's values as the parameters' defaults, which is what
    cfn-lint resolves a Ref to. Its Conditions are gone, so a parameter that
    only chooses one (FreshNotices, AlarmTopicArn...) reads as unused there:
    W2001 is left to the lint of template.yaml itself (make template), which
    sees the Conditions; so is W7001, a mapping unused in this wiring."""
    template = copy.deepcopy(template or d.without_conditions())
    for name, spec in template["Parameters"].items():
        value = d.params[name]
        spec["Default"] = ",".join(value) if isinstance(value, list) else value
        if spec["Type"] == "Number" and value.isdigit():
            spec["Default"] = int(value)  # as AllowedValues of numbers are
        if "AllowedValues" in spec:
            # This stack has this value: cfn-lint would otherwise try the
            # others where SAM already chose by it (Tracing: Disabled leaves
            # no TracingConfig, whose Mode takes no Disabled).
            spec["AllowedValues"] = [spec["Default"]]
    matches = lint(json.dumps(template), regions=[PSEUDO["AWS::Region"]])
    return [str(m) for m in matches if m.rule.id not in ("W2001", "W7001")]


def statements(policy_document: dict) -> list[dict]:
    found = policy_document["Statement"]
    return found if isinstance(found, list) else [found]


def as_list(value) -> list:
    return value if isinstance(value, list) else [value]


def of_type(resources: dict, kind: str) -> dict:
    return {name: r for name, r in resources.items() if r["Type"] == kind}


def allows(policy_document: dict) -> list[dict]:
    return [{k: v for k, v in s.items() if k != "Sid"} for s in statements(policy_document) if s["Effect"] == "Allow"]


def arn_like(pattern: str, arn: str) -> bool:
    """IAM's match of a Resource or ArnLike pattern: segment by segment (the
    resource, the sixth, may hold colons), '*' any run and '?' one character."""
    pattern_parts, arn_parts = pattern.split(":", 5), arn.split(":", 5)
    if len(pattern_parts) != 6 or len(arn_parts) != 6:
        return False
    return all(
        re.fullmatch("".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in p), a)
        for p, a in zip(pattern_parts, arn_parts)
    )


def distribution_arn(distribution_id: str) -> str:
    return f"arn:aws:cloudfront::{ACCOUNT}:distribution/{distribution_id}"


def assert_reaches_exactly(patterns: list[str], scenario: Scenario) -> None:
    """Which distributions of the account the patterns let in: the listed ones
    and no other (not one whose ID merely starts with a listed ID), or with
    discovery any of them."""
    others = ["E9ZZZZZZZZZZZZ", "EAUTO", "E1AAAAAAAAAAA"]
    for i in scenario.listed:
        others += [i + "X", i[:-1]]
    candidates = set(scenario.listed) | set(others)
    reached = {c for c in candidates if any(arn_like(p, distribution_arn(c)) for p in patterns)}
    assert reached == (candidates if scenario.discover else set(scenario.listed)), patterns


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
    # The basic logging policy, and X-Ray's writes only when tracing is on.
    tracing = scenario.op("Tracing") == "Active"
    assert role["ManagedPolicyArns"] == [BASIC_LOGS] + ([XRAY] if tracing else [])
    function = resources["InvalidatorFunction"]["Properties"]
    assert function.get("TracingConfig") == ({"Mode": "Active"} if tracing else None)
    assert role.get("PermissionsBoundary") == (scenario.op("PermissionsBoundary") or None)

    grants: dict[str, list[str]] = {}
    for policy in role["Policies"]:
        for s in statements(policy["PolicyDocument"]):
            assert s["Effect"] == "Allow", s
            assert set(s) <= {"Sid", "Effect", "Action", "Resource"}, f"NotAction/NotResource/Condition: {s}"
            for action in as_list(s["Action"]):
                assert "*" not in action, f"wildcard action {action}"
                grants.setdefault(action, []).extend(as_list(s["Resource"]))

    expected = {
        # Creating invalidations, and reading what is in progress first.
        "cloudfront:CreateInvalidation": scenario.distribution_arns,
        "cloudfront:ListInvalidations": scenario.distribution_arns,
        "cloudfront:GetInvalidation": scenario.distribution_arns,
        # Whether each cache behavior's key holds query strings.
        "cloudfront:GetCachePolicy": [CACHE_POLICIES],
        # Failed asynchronous events (SAM's grant for the on-failure
        # destination), and each new invalidation to the watch queue.
        "sqs:SendMessage": ["<DeadLetterQueue.Arn>", "<WatchQueue.Arn>"],
        # The watch loop's event source mapping, and the function bringing an
        # unfinished invalidation back sooner than the queue's timeout.
        "sqs:ReceiveMessage": ["<WatchQueue.Arn>"],
        "sqs:DeleteMessage": ["<WatchQueue.Arn>"],
        "sqs:GetQueueAttributes": ["<WatchQueue.Arn>"],
        "sqs:ChangeMessageVisibility": ["<WatchQueue.Arn>"],
    }
    if scenario.discover:
        # It supports no resource-level permission; its summaries hold the
        # distributions' origins and cache behaviors.
        expected["cloudfront:ListDistributions"] = ["*"]
    else:
        # Each listed distribution's origins and cache behaviors.
        expected["cloudfront:GetDistributionConfig"] = scenario.distribution_arns
    if scenario.mode in QUEUE_MODES:
        # The changes queue's mapping, and messages waiting for room brought back sooner.
        for action in ("sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:ChangeMessageVisibility"):
            expected[action].append("<Queue.Arn>")
    if scenario.notices:
        expected["sns:Publish"] = ["<FreshTopic>"]
    assert {a: sorted(r) for a, r in grants.items()} == {a: sorted(r) for a, r in expected.items()}
    reading = ("cloudfront:CreateInvalidation", "cloudfront:ListInvalidations", "cloudfront:GetInvalidation")
    for action in reading + (() if scenario.discover else ("cloudfront:GetDistributionConfig",)):
        assert_reaches_exactly(grants[action], scenario)


def check_bucket(resources: dict, scenario: Scenario) -> None:
    buckets = of_type(resources, "AWS::S3::Bucket")
    if scenario.mode not in BUCKET_MODES:
        assert buckets == {} and of_type(resources, "AWS::S3::BucketPolicy") == {}, "existing-bucket makes no bucket"
        return
    assert set(buckets) == {"Bucket"}
    # The origin outlives the stack and a switch to existing-bucket, and so
    # does the policy that lets the distributions read it.
    for name in ("Bucket", "BucketPolicy"):
        kept = {k: resources[name].get(k) for k in ("DeletionPolicy", "UpdateReplacePolicy")}
        assert kept == {"DeletionPolicy": "Retain", "UpdateReplacePolicy": "Retain"}, f"{name}: {kept}"
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
    grants = copy.deepcopy(allows(document))
    for grant in grants:
        source = grant.get("Condition", {}).get("ArnLike", {})
        if "aws:SourceArn" in source:
            source["aws:SourceArn"] = sorted(as_list(source["aws:SourceArn"]))
    assert grants == [
        {
            "Effect": "Allow",
            "Principal": {"Service": "cloudfront.amazonaws.com"},
            "Action": "s3:GetObject",
            "Resource": "<Bucket.Arn>/*",
            "Condition": {
                "StringEquals": {"aws:SourceAccount": ACCOUNT},
                "ArnLike": {"aws:SourceArn": sorted(scenario.distribution_arns)},
            },
        }
    ]
    assert_reaches_exactly(grants[0]["Condition"]["ArnLike"]["aws:SourceArn"], scenario)


def check_notifications(resources: dict, scenario: Scenario) -> None:
    # Lifecycle expirations remove objects, under a type of their own.
    events = ["s3:ObjectCreated:*", "s3:ObjectRemoved:*", "s3:LifecycleExpiration:*"]
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
    watch = {"WatchQueue", "WatchDeadLetterQueue"}
    assert set(queues) == watch | ({"Queue", "DeadLetterQueue"} if scenario.mode in QUEUE_MODES else {"DeadLetterQueue"})
    for name, queue in queues.items():
        props = queue["Properties"]
        assert props.get("SqsManagedSseEnabled") is True or props.get("KmsMasterKeyId"), f"{name} is not encrypted"
    dlq_policy = resources["DeadLetterQueuePolicy"]["Properties"]
    assert dlq_policy["Queues"] == ["<DeadLetterQueue>"]
    assert_denies_plain_http(dlq_policy["PolicyDocument"], "sqs:*", {"<DeadLetterQueue.Arn>"})
    # Only the rule may send, what it could not deliver to the queue.
    rule_dead_letters = {
        "Effect": "Allow",
        "Principal": {"Service": "events.amazonaws.com"},
        "Action": "sqs:SendMessage",
        "Resource": "<DeadLetterQueue.Arn>",
        "Condition": {"ArnEquals": {"aws:SourceArn": "<ObjectEventsRule.Arn>"}},
    }
    expected = [rule_dead_letters] if scenario.mode == "existing-bucket" else []
    assert allows(dlq_policy["PolicyDocument"]) == expected
    # Only the changes queue may park messages there (SQS's redrive); with
    # no changes queue, none may.
    redrive_allow = queues["DeadLetterQueue"]["Properties"]["RedriveAllowPolicy"]
    if scenario.mode not in QUEUE_MODES:
        assert redrive_allow == {"redrivePermission": "denyAll"}
        return
    assert redrive_allow == {"redrivePermission": "byQueue", "sourceQueueArnList": [queue_arn(queues["Queue"])]}

    queue = queues["Queue"]["Properties"]
    timeout = resources["InvalidatorFunction"]["Properties"]["Timeout"]
    longest_window = int(sam()["Parameters"]["BatchWindowSeconds"]["MaxValue"])
    # AWS: at least six function timeouts; the batching window comes on top.
    assert queue["VisibilityTimeout"] >= 6 * timeout + longest_window
    assert queue["RedrivePolicy"] == {"deadLetterTargetArn": "<DeadLetterQueue.Arn>", "maxReceiveCount": MAX_RECEIVES}
    # A moved message keeps its enqueue time, so the DLQ must keep it longer.
    dlq_retention = queues["DeadLetterQueue"]["Properties"]["MessageRetentionPeriod"]
    assert 4 * 86400 <= queue["MessageRetentionPeriod"] < dlq_retention


def queue_arn(queue: dict) -> str:
    """A queue's ARN from its name, as SQS makes it."""
    name = queue["Properties"]["QueueName"]
    assert re.fullmatch(r"[A-Za-z0-9_-]{1,80}", name), name
    return f"arn:aws:sqs:{PSEUDO['AWS::Region']}:{ACCOUNT}:{name}"


def check_queue_policy(resources: dict, scenario: Scenario) -> None:
    if scenario.mode not in QUEUE_MODES:
        assert set(of_type(resources, "AWS::SQS::QueuePolicy")) == {"DeadLetterQueuePolicy", "WatchQueuePolicy"}
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
    mappings = {
        name: r
        for name, r in of_type(resources, "AWS::Lambda::EventSourceMapping").items()
        if r["Properties"]["EventSourceArn"] != "<WatchQueue.Arn>"
    }
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
    # The bound the function divides CloudFront's room by, from one value.
    assert set(props["ScalingConfig"]) == {"MaximumConcurrency"}
    planners = resources["InvalidatorFunction"]["Properties"]["Environment"]["Variables"]["MAX_CONCURRENCY"]
    assert int(props["ScalingConfig"]["MaximumConcurrency"]) == int(planners) == QUEUE_PLANNERS


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
    (target,) = props["Targets"]
    assert target["Arn"] == "<Queue.Arn>"
    # An event the queue refuses is retried for a day, then parked, never dropped.
    assert target.get("DeadLetterConfig") == {"Arn": "<DeadLetterQueue.Arn>"}
    assert target.get("RetryPolicy") == {"MaximumRetryAttempts": 185, "MaximumEventAgeInSeconds": 86400}


def check_function(resources: dict, scenario: Scenario) -> None:
    """Every setting reaches the function, and only the settings: a parameter
    left at its default gives what the function assumes when unset."""
    function = resources["InvalidatorFunction"]["Properties"]
    assert function["Environment"]["Variables"] == scenario.environment
    # bucket-to-function is bounded in every case (S3 invokes it per object);
    # the queue wirings reserve only what was asked for.
    reserved = function.get("ReservedConcurrentExecutions")
    assert (None if reserved is None else int(reserved)) == scenario.reserved_concurrency
    if scenario.mode == "bucket-to-function":
        assert int(reserved) == int(function["Environment"]["Variables"]["MAX_CONCURRENCY"]) <= 15


# -- operating it: the watch loop, topics, alarms, dashboard, queries ----------


def check_watch(resources: dict, scenario: Scenario) -> None:
    """Each invalidation is followed until CloudFront says Completed: about
    one receive a minute, FreshTimeoutMinutes of them, then the watch
    dead-letter queue; the event source mapping reports what is unfinished."""
    timeout = resources["InvalidatorFunction"]["Properties"]["Timeout"]
    queue = resources["WatchQueue"]["Properties"]
    assert queue.get("SqsManagedSseEnabled") is True
    # AWS's advice for a queue that feeds a function, as for the changes
    # queue (Lambda itself refuses less than one timeout); the function
    # brings an unfinished watch back after a minute on its own.
    assert int(queue["VisibilityTimeout"]) >= 6 * timeout
    assert queue["RedrivePolicy"]["deadLetterTargetArn"] == "<WatchDeadLetterQueue.Arn>"
    receives = int(queue["RedrivePolicy"]["maxReceiveCount"])
    assert receives == int(scenario.op("FreshTimeoutMinutes"))
    assert set(queue["RedrivePolicy"]) == {"deadLetterTargetArn", "maxReceiveCount"}
    # The longest watch SQS allows, at the queue's own visibility timeout,
    # ends before the message would expire unseen.
    longest = int(sam()["Parameters"]["FreshTimeoutMinutes"]["MaxValue"]) * int(queue["VisibilityTimeout"])
    assert int(queue["MessageRetentionPeriod"]) > longest
    dead = resources["WatchDeadLetterQueue"]["Properties"]
    assert dead.get("SqsManagedSseEnabled") is True and int(dead["MessageRetentionPeriod"]) == 1209600
    assert dead["RedriveAllowPolicy"] == {
        "redrivePermission": "byQueue",
        "sourceQueueArnList": [queue_arn(resources["WatchQueue"])],
    }

    policy = resources["WatchQueuePolicy"]["Properties"]
    assert policy["Queues"] == ["<WatchQueue>", "<WatchDeadLetterQueue>"]
    assert_denies_plain_http(
        policy["PolicyDocument"], "sqs:*", {"<WatchQueue.Arn>", "<WatchDeadLetterQueue.Arn>"}
    )
    assert allows(policy["PolicyDocument"]) == [], "only the function's role reaches the watch queue"

    (mapping,) = [
        r["Properties"]
        for r in of_type(resources, "AWS::Lambda::EventSourceMapping").values()
        if r["Properties"]["EventSourceArn"] == "<WatchQueue.Arn>"
    ]
    assert mapping["FunctionName"] == "<InvalidatorFunction>"
    assert mapping.get("Enabled", True) is True
    assert mapping.get("FunctionResponseTypes") == ["ReportBatchItemFailures"]
    assert int(mapping["BatchSize"]) == 10
    assert int(mapping.get("MaximumBatchingWindowInSeconds", 0)) == 0


def check_topics(resources: dict, scenario: Scenario) -> None:
    """The alarm topic: the stack's unless one was given, with the e-mail
    subscription when asked; the completion topic only with notices,
    encrypted."""
    topics = of_type(resources, "AWS::SNS::Topic")
    expected = ({"FreshTopic"} if scenario.notices else set()) | (
        set() if scenario.op("AlarmTopicArn") else {"AlarmTopic"}
    )
    assert set(topics) == expected
    if scenario.notices:
        assert topics["FreshTopic"]["Properties"].get("KmsMasterKeyId") == "alias/aws/sns"
    subscriptions = [r["Properties"] for r in of_type(resources, "AWS::SNS::Subscription").values()]
    email = scenario.op("AlarmEmail")
    assert subscriptions == (
        [{"Protocol": "email", "Endpoint": email, "TopicArn": scenario.alarm_topic}] if email else []
    )
    # Each topic the stack makes has one publisher, over TLS only: the
    # function's role for the notices, this account's alarms for the alarm
    # topic. A deny, since any principal of the account could otherwise
    # publish through its own IAM permissions. A topic given is left alone.
    policies = {name: r["Properties"] for name, r in of_type(resources, "AWS::SNS::TopicPolicy").items()}
    assert set(policies) == {f"{t}Policy" for t in expected}
    alarms = f"arn:aws:cloudwatch:{PSEUDO['AWS::Region']}:{ACCOUNT}:alarm:*"
    for topic in expected:
        policy = policies[f"{topic}Policy"]
        assert policy["Topics"] == [f"<{topic}>"]
        document = policy["PolicyDocument"]
        assert_denies_plain_http(document, "sns:Publish", {f"<{topic}>"})
        denies = [
            s for s in statements(document) if s["Effect"] == "Deny" and "aws:SecureTransport" not in str(s["Condition"])
        ]
        assert len(denies) == 1, f"{topic}: one publisher, refused to all others: {denies}"
        (deny,) = denies
        assert (deny["Principal"], deny["Action"], deny["Resource"]) == ("*", "sns:Publish", f"<{topic}>"), deny
        if topic == "FreshTopic":
            assert deny["Condition"] == {"ArnNotEquals": {"aws:PrincipalArn": "<InvalidatorFunctionRole.Arn>"}}
            assert allows(document) == []
        else:
            assert deny["Condition"] == {"ArnNotLike": {"aws:SourceArn": alarms}}
            assert allows(document) == [
                {
                    "Effect": "Allow",
                    "Principal": {"Service": "cloudwatch.amazonaws.com"},
                    "Action": "sns:Publish",
                    "Resource": "<AlarmTopic>",
                    "Condition": {"ArnLike": {"aws:SourceArn": alarms}, "StringEquals": {"aws:SourceAccount": ACCOUNT}},
                }
            ]
            # The stack's own alarms are among those let in.
            name = f"{PSEUDO['AWS::StackName']}-change-not-invalidated"
            assert arn_like(alarms, f"arn:aws:cloudwatch:{PSEUDO['AWS::Region']}:{ACCOUNT}:alarm:{name}")


@dataclass(frozen=True)
class Alarm:
    # The metrics it reads, each (namespace, name, (dimension, value),
    # statistic), by id; one metric needs no expression.
    metrics: dict
    # The metric math the alarm compares (Metrics with an Expression), or None.
    expression: str | None
    threshold: float
    # (EvaluationPeriods, DatapointsToAlarm); each period 5 minutes.
    periods: tuple[int, int]
    # What the description must tell the person to do.
    remedy: tuple[str, ...]
    # Seconds per evaluation period.
    period: int = 300


def held(queue: str) -> dict:
    """Every message a queue holds, seen or not (a poll or a replay hides
    them a while): the dead-letter alarms' measure."""
    dimension = ("QueueName", f"<{queue}.QueueName>")
    return {
        "visible": ("AWS/SQS", "ApproximateNumberOfMessagesVisible", dimension, "Maximum"),
        "hidden": ("AWS/SQS", "ApproximateNumberOfMessagesNotVisible", dimension, "Maximum"),
    }


def expected_alarms(scenario: Scenario) -> dict[str, Alarm]:
    stack = PSEUDO["AWS::StackName"]
    function = ("FunctionName", "<InvalidatorFunction>")
    queues = scenario.mode in QUEUE_MODES
    # How to replay what was parked, with the plain AWS CLI, or with the
    # script dist/ ships (Lambda's records go back through the function).
    replay = (
        "aws sqs start-message-move-task --source-arn <DeadLetterQueue.Arn> --destination-arn <Queue.Arn>"
        if queues
        else f"bash redrive.sh {stack} (in dist/"
    )
    threshold = scenario.op("QueueAgeAlarmSeconds")
    alarms = {
        # A change that was not invalidated: the site may be stale.
        "DeadLetterAlarm": Alarm(
            held("DeadLetterQueue"),
            "FILL(visible, 0) + FILL(hidden, 0)",
            0,
            (1, 1),
            ("<DeadLetterQueue.QueueName>", replay, "OK means the queue holds nothing", "14 days"),
        ),
        "FunctionErrorsAlarm": Alarm(
            {"m": ("AWS/Lambda", "Errors", function, "Sum")}, None, 0, (10, 2), ("<DeadLetterQueue.QueueName>", "OK means")
        ),
        "QueueAgeAlarm": Alarm(
            {"age": ("AWS/SQS", "ApproximateAgeOfOldestMessage", ("QueueName", "<Queue.QueueName>"), "Maximum")}
            if queues
            else {"milliseconds": ("AWS/Lambda", "AsyncEventAge", function, "Maximum")},
            None if queues else "milliseconds / 1000",
            float(threshold),
            (20, 1),
            (f"{threshold} s", "OK means", "<DeadLetterQueue.QueueName>")
            + (("<Queue.QueueName>", "Triggers", "third try") if queues else ("ReservedConcurrency", "bucket-to-queue")),
        ),
        "WatchAgeAlarm": Alarm(
            {"m": ("AWS/SQS", "ApproximateAgeOfOldestMessage", ("QueueName", "<WatchQueue.QueueName>"), "Maximum")},
            None,
            1800,
            (1, 1),
            ("<WatchQueue.QueueName>", "30 minutes", "Triggers", "OK means", "<WatchDeadLetterQueue.QueueName>"),
        ),
        "NotFreshAlarm": Alarm(
            held("WatchDeadLetterQueue"),
            "FILL(visible, 0) + FILL(hidden, 0)",
            0,
            (1, 1),
            (
                "<WatchDeadLetterQueue.QueueName>",
                "get-invalidation",
                "start-message-move-task --source-arn <WatchDeadLetterQueue.Arn> --destination-arn <WatchQueue.Arn>",
                f"{scenario.op('FreshTimeoutMinutes')} checks",
                "OK means the queue holds nothing",
            ),
        ),
    }
    if queues:
        alarms["FunctionThrottlesAlarm"] = Alarm(
            {"m": ("AWS/Lambda", "Throttles", function, "Sum")},
            None,
            0,
            (10, 2),
            ("concurrency", "ReservedConcurrency", "OK means"),
        )
    else:
        # Lambda gave up on an event S3 sent, or could not record it.
        alarms["EventDroppedAlarm"] = Alarm(
            {
                "dropped": ("AWS/Lambda", "AsyncEventsDropped", function, "Sum"),
                "undelivered": ("AWS/Lambda", "DestinationDeliveryFailures", function, "Sum"),
            },
            "FILL(dropped, 0) + FILL(undelivered, 0)",
            0,
            (1, 1),
            ("<DeadLetterQueue.QueueName>", "DestinationDeliveryFailures", "create-invalidation", "OK after"),
        )
    # A distribution's own configuration against the stack's settings: the
    # function's totals (no dimension), raised for an hour after the last.
    namespace = scenario.op("MetricsNamespace")
    alarms["NotServingAlarm"] = Alarm(
        {"m": (namespace, "DistributionNotServingBucket", (), "Sum")},
        None,
        0,
        (12, 1),
        ("DistributionIds", "BucketDomains", "saved query", "OK means"),
    )
    alarms["ServedByNoneAlarm"] = Alarm(
        {"m": (namespace, "ChangesServedByNoDistribution", (), "Sum")},
        None,
        0,
        (12, 1),
        ("auto", "BucketDomains", "CNAME", "access point alias", "OK means"),
    )
    if scenario.watches_bucket_writes:
        # The bucket took writes, and EventBridge delivered no event for them.
        span = scenario.op("EventsMissingAlarmSeconds")
        bucket = ("BucketName", EXISTING_BUCKET), ("FilterId", scenario.op("RequestMetricsFilterId"))
        alarms["EventsMissingAlarm"] = Alarm(
            {
                "puts": ("AWS/S3", "PutRequests", bucket, "Sum"),
                "posts": ("AWS/S3", "PostRequests", bucket, "Sum"),
                "deletes": ("AWS/S3", "DeleteRequests", bucket, "Sum"),
                "events": ("AWS/Events", "MatchedEvents", ("RuleName", "<ObjectEventsRule>"), "Sum"),
            },
            "IF(FILL(puts, 0) + FILL(posts, 0) + FILL(deletes, 0) > 0 AND FILL(events, 0) == 0, 1, 0)",
            0,
            (1, 1),
            (f"{span} s", "get-bucket-notification-configuration", "EventBridge", "create-invalidation", "OK means"),
            period=int(span),
        )
    return alarms


ALARM_PROPERTIES = {
    "AlarmName",
    "AlarmDescription",
    "Namespace",
    "MetricName",
    "Dimensions",
    "Statistic",
    "Period",
    "Metrics",
    "EvaluationPeriods",
    "DatapointsToAlarm",
    "Threshold",
    "ComparisonOperator",
    "TreatMissingData",
    "AlarmActions",
    "OKActions",
}


def dimensions(listed: list[dict]):
    """One dimension as (name, value), several (or none) as a tuple of them."""
    pairs = tuple((d["Name"], d["Value"]) for d in listed)
    return pairs[0] if len(pairs) == 1 else pairs


def alarm_query(props: dict, period: int = 300) -> tuple[dict, str | None]:
    """(the metrics an alarm reads by id, its expression or None), from either
    shape: one metric, or Metrics with metric math. Every metric's period is
    `period`."""
    if "Metrics" not in props:
        assert int(props["Period"]) == period
        metric = (props["Namespace"], props["MetricName"], dimensions(props.get("Dimensions", [])), props["Statistic"])
        return {"m": metric}, None
    assert not {"Namespace", "MetricName", "Dimensions", "Statistic", "Period"} & set(props), "both shapes at once"
    metrics, expressions = {}, []
    for query in props["Metrics"]:
        if "Expression" in query:
            assert query["ReturnData"] is True, query
            expressions.append(query["Expression"])
            continue
        assert query["ReturnData"] is (len(props["Metrics"]) == 1), query
        stat = query["MetricStat"]
        assert int(stat["Period"]) == period, query
        metrics[query["Id"]] = (
            stat["Metric"]["Namespace"],
            stat["Metric"]["MetricName"],
            dimensions(stat["Metric"]["Dimensions"]),
            stat["Stat"],
        )
    assert len(expressions) <= 1, expressions
    if not expressions:
        assert len(metrics) == 1, "one metric, or an expression over several"
        return {"m": next(iter(metrics.values()))}, None
    return metrics, expressions[0]


def check_alarms(resources: dict, scenario: Scenario) -> None:
    """Each alarm watches the right metrics of the stack's own resources, fires
    on the first message or error that matters, tells the alarm topic when it
    fires and when it is over, and says what it means, what to do and what OK
    means."""
    alarms = of_type(resources, "AWS::CloudWatch::Alarm")
    expected = expected_alarms(scenario)
    assert set(alarms) == set(expected)
    queries = {r["Properties"]["Name"] for r in of_type(resources, "AWS::Logs::QueryDefinition").values()}
    for name, want in expected.items():
        props = alarms[name]["Properties"]
        assert set(props) <= ALARM_PROPERTIES, f"{name}: {set(props) - ALARM_PROPERTIES}"
        assert props["AlarmName"].startswith(PSEUDO["AWS::StackName"] + "-"), name
        metrics, expression = alarm_query(props, want.period)
        if want.expression is None:
            assert (list(metrics.values()), expression) == (list(want.metrics.values()), None), name
        else:
            assert (metrics, expression) == (want.metrics, want.expression), name
        periods = (int(props["EvaluationPeriods"]), int(props.get("DatapointsToAlarm", props["EvaluationPeriods"])))
        assert periods == want.periods, name
        assert float(props["Threshold"]) == want.threshold, name
        assert props["ComparisonOperator"] == "GreaterThanThreshold", name
        # An idle queue or function publishes nothing: that is not trouble.
        assert props["TreatMissingData"] == "notBreaching", name
        assert props.get("AlarmActions") == [scenario.alarm_topic], name
        assert props.get("OKActions") == [scenario.alarm_topic], name
        description = props["AlarmDescription"]
        # CloudWatch's limit, with the longest names CloudFormation can give:
        # a stack name of 128 characters, generated queue names of 80 and
        # function names of 64.
        longest = re.sub(r"<\w+\.QueueName>", "q" * 80, description.replace(PSEUDO["AWS::StackName"], "s" * 128))
        longest = re.sub(r"<\w+\.Arn>", "arn:aws:sqs:us-east-1:123456789012:" + "q" * 80, longest)
        longest = longest.replace("<InvalidatorFunction>", "f" * 64)
        assert len(longest) <= 1024, f"{name}: {len(longest)} characters with the longest names"
        # The Makefile is not where a packaged or SAR deployment runs this.
        assert "make " not in description, f"{name} names a make target"
        for words in want.remedy:
            assert words in description, f"{name}'s description does not say {words!r}: {description}"
        # A saved query it names exists.
        for query in re.findall(r"saved query ([^()]+?)\)", description):
            assert query in queries, f"{name} names a saved query the stack lacks: {query}"


def test_changes_waiting_outlasts_the_gap_sqs_leaves():
    """SQS stops counting a message in ApproximateAgeOfOldestMessage after
    its third receive; a change that keeps failing comes back each visibility
    timeout and is parked after maxReceiveCount receives. The changes-waiting
    alarm must stay raised from its last count until then, when
    change-not-invalidated takes over, or it says OK while the cause
    persists."""
    queue = sam()["Resources"]["Queue"]["Properties"]
    visibility, receives = queue["VisibilityTimeout"], queue["RedrivePolicy"]["maxReceiveCount"]
    counted_until = 2 * visibility  # its third receive
    parked_at = receives * visibility
    alarm = sam()["Resources"]["QueueAgeAlarm"]["Properties"]
    assert int(alarm["DatapointsToAlarm"]) == 1
    assert int(alarm["EvaluationPeriods"]) * 300 >= parked_at - counted_until


# What the function emits (the interface in the Rust code): each metric in
# the MetricsNamespace, with the dimension sets it is emitted under.
BY_DISTRIBUTION = {(), ("Distribution",)}
CUSTOM_METRICS = {
    "ChangesSeen": BY_DISTRIBUTION,
    "PathsRequested": BY_DISTRIBUTION,
    "PathsSubmitted": BY_DISTRIBUTION,
    "WildcardPaths": BY_DISTRIBUTION,
    "InvalidationsCreated": BY_DISTRIBUTION,
    "RequestsFailed": {(), ("Reason",), ("Distribution", "Reason")},
    "RecordsRejected": {()},
    "MessagesReportedForRetry": {()},
    "InvalidationsCompleted": BY_DISTRIBUTION,
    "SecondsToFresh": BY_DISTRIBUTION,
    "SecondsInProgress": BY_DISTRIBUTION,
    "DistributionNotServingBucket": BY_DISTRIBUTION,
    "ChangesServedByNoDistribution": {()},
}
# AWS's own metrics the dashboard may graph, and the resource they must name.
AWS_METRICS = {
    "AWS/Lambda": (
        {
            "Invocations",
            "Errors",
            "Throttles",
            "Duration",
            "ConcurrentExecutions",
            "AsyncEventsReceived",
            "AsyncEventAge",
            "AsyncEventsDropped",
            "DestinationDeliveryFailures",
        },
        "FunctionName",
    ),
    "AWS/SQS": (
        {
            "ApproximateNumberOfMessagesVisible",
            "ApproximateNumberOfMessagesNotVisible",
            "ApproximateNumberOfMessagesDelayed",
            "ApproximateAgeOfOldestMessage",
            "NumberOfMessagesSent",
            "NumberOfMessagesReceived",
        },
        "QueueName",
    ),
}
SEARCH = re.compile(r"""SEARCH\('\{"([^"]+)",([A-Za-z,]+)\} MetricName="(\w+)"', '(\w+)', (\d+)\)""")


def dashboard(resources: dict) -> list[dict]:
    return json.loads(resources["Dashboard"]["Properties"]["DashboardBody"])["widgets"]


def graphed(widgets: list[dict]) -> list[tuple[str, str, tuple[tuple[str, str], ...], str]]:
    """Every metric the metric widgets draw: (namespace, name, dimensions,
    statistic), a SEARCH expression as its namespace, metric and dimension
    names (values "*")."""
    found = []
    for widget in widgets:
        if widget["type"] != "metric":
            continue
        props = widget["properties"]
        for row in props["metrics"]:
            options = row[-1] if isinstance(row[-1], dict) else {}
            if "expression" in options:
                match = SEARCH.fullmatch(options["expression"])
                assert match, f"not a SEARCH this test reads: {options['expression']}"
                namespace, names, metric, statistic, _ = match.groups()
                found.append((namespace, metric, tuple((n, "*") for n in names.split(",")), statistic))
                continue
            names = row[:-1] if options else row
            assert len(names) % 2 == 0 and "." not in names, f"shorthand rows are not checked: {row}"
            namespace, metric, *pairs = names
            dims = tuple(zip(pairs[::2], pairs[1::2]))
            found.append((namespace, metric, dims, options.get("stat", props.get("stat", "Average"))))
    return found


def check_dashboard(resources: dict, scenario: Scenario) -> None:
    """One screen: every graph draws a metric that exists, in the right
    namespace, of this stack's resources; and the graphs an operator needs
    are there."""
    widgets = dashboard(resources)
    namespace = scenario.op("MetricsNamespace")
    queues = {f"<{name}.QueueName>" for name in of_type(resources, "AWS::SQS::Queue")}
    metrics = graphed(widgets)
    for ns, metric, dims, _ in metrics:
        names = tuple(sorted(n for n, _ in dims))
        if ns == namespace:
            assert names in CUSTOM_METRICS.get(metric, set()), f"the function emits no {metric} by {names}"
            assert all(v == "*" for _, v in dims), f"{metric}: one value picked of {dims}"
            continue
        assert ns in AWS_METRICS, f"a metric in {ns}, neither AWS's nor {namespace}"
        known, dimension = AWS_METRICS[ns]
        assert metric in known, f"{ns} has no {metric}"
        (name, value), = dims
        assert name == dimension, (metric, dims)
        assert value in (queues if ns == "AWS/SQS" else {"<InvalidatorFunction>"}), f"{metric} of {value}"
    for widget in widgets:
        if widget["type"] in ("metric", "log"):
            assert widget["properties"]["region"] == PSEUDO["AWS::Region"]
        if widget["type"] == "metric":
            period = widget["properties"].get("period")
            assert period is None or int(period) in (60, 300, 3600, 86400)
        if widget["type"] == "log":
            assert widget["properties"]["query"].startswith("SOURCE '<FunctionLogGroup>' | ")
            check_log_query(widget["properties"]["query"].split(" | ", 1)[1])
    # What it must show: invalidations and paths billed per day, time to
    # fresh, failures by reason, the dead-letter queues, the changes queue
    # (queue wirings).
    daily = [w["properties"] for w in widgets if w["type"] == "metric" and w["properties"].get("period") == 86400]
    assert any(
        {m for ns, m, d, s in graphed([{"type": "metric", "properties": p}]) if ns == namespace and d == () and s == "Sum"}
        >= {"InvalidationsCreated", "PathsSubmitted"}
        for p in daily
    ), "no daily graph of invalidations and paths billed"
    assert {(namespace, "SecondsToFresh", (), "p50"), (namespace, "SecondsToFresh", (), "p99")} <= set(metrics)
    assert (namespace, "RequestsFailed", (("Reason", "*"),), "Sum") in metrics, "no failures by reason"
    for queue in ("<DeadLetterQueue.QueueName>", "<WatchDeadLetterQueue.QueueName>"):
        assert ("AWS/SQS", "ApproximateNumberOfMessagesVisible", (("QueueName", queue),), "Maximum") in metrics
    changes = {m for ns, m, d, _ in metrics if d == (("QueueName", "<Queue.QueueName>"),)}
    if scenario.mode in QUEUE_MODES:
        assert {"ApproximateNumberOfMessagesVisible", "ApproximateAgeOfOldestMessage"} <= changes
    else:
        assert changes == set()
    # The alarms' states, all of them.
    (alarm_widget,) = [w for w in widgets if w["type"] == "alarm"]
    assert sorted(alarm_widget["properties"]["alarms"]) == sorted(f"<{a}.Arn>" for a in expected_alarms(scenario))


# What the function logs (the interface in the Rust code): each message's own
# fields, under "fields" in the JSON log line; "ignored: " and the like take a
# reason after them.
LOG_MESSAGES = {
    "invalidation created": {"distribution", "invalidation_id", "paths", "path_list", "caller_reference"},
    "planned": {
        "distribution",
        "changes",
        "paths_requested",
        "paths_submitted",
        "wildcards",
        "held_files",
        "held_wildcards",
        "deferred",
    },
    "ignored: ": {"bucket", "key"},
    "rejected: ": {"bucket", "key"},
    "reported for retry: ": {"message_id"},
    "fresh": {"distribution", "invalidation_id", "seconds_to_fresh", "seconds_in_progress", "paths"},
    # ERROR and WARN lines.
    "": {"distribution"},
}
LOG_FIELDS = set().union(*LOG_MESSAGES.values()) | {"message"}


def check_log_query(query: str) -> None:
    """A Logs Insights query reads only what the function logs."""
    used = set(re.findall(r"\bfields\.(\w+)", query))
    assert used <= LOG_FIELDS, f"the function logs no {used - LOG_FIELDS}"
    for message in re.findall(r'fields\.message = "([^"]*)"', query):
        assert message in LOG_MESSAGES, f"the function logs no message {message!r}"
    for level in re.findall(r'"([A-Z]+)"', query):
        assert level in {"ERROR", "WARN", "INFO", "DEBUG", "TRACE"}, level


# Saved query: (name after the stack's, what its filter must hold).
QUERIES = {
    "KeyQuery": ("What happened to a key", ('fields.key = "KEY/TO/FIND"', 'fields.path_list like "KEY/TO/FIND"')),
    "InvalidationsQuery": ("Invalidations and their paths", ('fields.message = "invalidation created"', "path_list")),
    "FailuresQuery": (
        "Failures",
        ('level in ["ERROR", "WARN"]', "rejected|reported for retry", 'record.status != "success"'),
    ),
    "FreshQuery": ("Time to fresh", ('fields.message = "fresh"', "seconds_to_fresh")),
    "InvalidationQuery": ("One invalidation", ('fields.invalidation_id = "INVALIDATION_ID"',)),
}


def test_the_failures_query_in_the_docs_is_the_stacks():
    """A deployment without saved queries (the Serverless Application
    Repository's) pastes it from docs/operating.md: the same text."""
    query = sam()["Resources"]["FailuresQuery"]["Properties"]["QueryString"]
    body = "\n".join(line for line in query.splitlines() if not line.startswith("#"))
    assert f"```\n{body.rstrip()}\n```" in (ROOT / "docs/operating.md").read_text()


def check_queries(resources: dict, scenario: Scenario) -> None:
    definitions = of_type(resources, "AWS::Logs::QueryDefinition")
    assert set(definitions) == set(QUERIES)
    for name, (title, needs) in QUERIES.items():
        props = definitions[name]["Properties"]
        assert props["Name"] == f"{PSEUDO['AWS::StackName']}/{title}"
        assert props["LogGroupNames"] == ["<FunctionLogGroup>"]
        query = props["QueryString"]
        for words in needs:
            assert words in query, f"{name} lacks {words!r}"
        check_log_query(query)


CHECKS = [
    check_role,
    check_function,
    check_bucket,
    check_notifications,
    check_invoke_permissions,
    check_queues,
    check_queue_policy,
    check_event_source_mapping,
    check_rule,
    check_watch,
    check_topics,
    check_alarms,
    check_dashboard,
    check_queries,
]


# -- the scenarios -------------------------------------------------------------


@by_scenario
def test_parameters_pass_the_rules(scenario):
    assert deployment(scenario).failed_rules() == []


@by_scenario
def test_cfn_lint_finds_nothing(scenario):
    assert lint_scenario(deployment(scenario)) == []


@by_scenario
def test_creates_only_what_the_wiring_uses(scenario):
    d = deployment(scenario)
    assert set(d.resources()) == scenario.expected_resources
    outputs = set(d.kept("Outputs"))
    # The bucket in every wiring: the smoke test and the operator find it there.
    assert d.value(d.cfn["Outputs"]["BucketName"]["Value"]) == (
        "<Bucket>" if scenario.mode in BUCKET_MODES else EXISTING_BUCKET
    )
    assert ("QueueUrl" in outputs) == (scenario.mode in QUEUE_MODES)
    assert ("FreshTopicArn" in outputs) == scenario.notices
    assert {"WatchQueueUrl", "WatchDeadLetterQueueUrl", "AlarmTopicArn", "DashboardUrl"} <= outputs


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
    assert str(resources["FunctionLogGroup"]["Properties"]["RetentionInDays"]) == scenario.op("LogRetentionDays")
    on_failure = resources["InvalidatorFunctionEventInvokeConfig"]["Properties"]["DestinationConfig"]["OnFailure"]
    assert on_failure["Destination"] == "<DeadLetterQueue.Arn>"


@pytest.mark.parametrize("scenario", [s for s in SCENARIOS if s.mode in BUCKET_MODES], ids=str)
def test_bucket_comes_after_what_s3_checks(scenario):
    """S3 tests a notification's destination when it is set: the bucket must be
    created after the permission or queue policy that lets it through."""
    bucket = deployment(scenario).without_conditions()["Resources"]["Bucket"]
    needed = "BucketInvokePermission" if scenario.mode == "bucket-to-function" else "QueuePolicy"
    assert needed in references(bucket) | set(as_list(bucket.get("DependsOn", [])))


# -- discovery and origin paths ------------------------------------------------


def differences(a, b, path: tuple = ()) -> list[tuple]:
    """Where two rendered fragments differ, as key paths."""
    if isinstance(a, dict) and isinstance(b, dict):
        return [d for k in sorted(set(a) | set(b), key=str) for d in differences(a.get(k), b.get(k), (*path, k))]
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return [d for i, (x, y) in enumerate(zip(a, b)) for d in differences(x, y, (*path, i))]
    return [] if a == b else [path]


def check_discovery_role(on: dict, off: dict, listed: Scenario) -> None:
    """The role with discovery (`on`) and with `listed`'s distributions (`off`)
    differ only by how distributions are read (ListDistributions, or
    GetDistributionConfig of the listed ones) and the resource of
    CreateInvalidation: the account's distributions, or the listed ones."""

    def parts(resources: dict):
        role = copy.deepcopy(resources["InvalidatorFunctionRole"]["Properties"])
        listing, invalidating = [], []
        for policy in role["Policies"]:
            kept = []
            for s in statements(policy["PolicyDocument"]):
                if s.get("Action") in ("cloudfront:ListDistributions", "cloudfront:GetDistributionConfig"):
                    resources = s.get("Resource")
                    if isinstance(resources, list):
                        s = s | {"Resource": sorted(resources)}
                    listing.append({k: v for k, v in s.items() if k != "Sid"})
                    continue
                if "cloudfront:CreateInvalidation" in as_list(s.get("Action")):
                    invalidating.append(sorted(as_list(s.pop("Resource"))))
                kept.append(s)
            policy["PolicyDocument"]["Statement"] = kept
        return role, listing, invalidating

    role_on, listing_on, invalidating_on = parts(on)
    role_off, listing_off, invalidating_off = parts(off)
    assert role_on == role_off, differences(role_on, role_off)
    assert listing_on == [LIST_DISTRIBUTIONS]
    assert listing_off == [
        {"Effect": "Allow", "Action": "cloudfront:GetDistributionConfig", "Resource": sorted(listed.distribution_arns)}
    ]
    assert invalidating_on == [[ACCOUNT_DISTRIBUTIONS]]
    assert invalidating_off == [sorted(listed.distribution_arns)]


def check_discovery_stack(on: dict, off: dict, mode: str) -> None:
    """Besides the role, discovery changes the function's DISTRIBUTION_IDS and
    the distributions the stack's bucket lets read, and nothing else."""
    changed = {d[:1] if d[0] == "InvalidatorFunctionRole" else d for d in differences(on, off)}
    expected = {
        ("InvalidatorFunctionRole",),
        ("InvalidatorFunction", "Properties", "Environment", "Variables", "DISTRIBUTION_IDS"),
    }
    if mode in BUCKET_MODES:
        document = off["BucketPolicy"]["Properties"]["PolicyDocument"]
        read = next(i for i, s in enumerate(statements(document)) if s["Effect"] == "Allow")
        expected.add(
            ("BucketPolicy", "Properties", "PolicyDocument", "Statement", read, "Condition", "ArnLike", "aws:SourceArn")
        )
    assert changed == expected


def discovery_pair(mode: str) -> tuple[Scenario, Scenario]:
    """Discovery, and the same stack with listed distributions: settings and
    batching alike, so that only the distributions differ."""
    on = scenario_of(mode, "auto")
    return on, Scenario(mode, WITH_PATHS, on.batch, on.settings, on.ops)


@pytest.mark.parametrize("mode", MODES)
def test_discovery_changes_only_the_cloudfront_grants(mode):
    on, off = discovery_pair(mode)
    check_discovery_role(deployment(on).resources(), deployment(off).resources(), off)


@pytest.mark.parametrize("mode", MODES)
def test_discovery_changes_nothing_else(mode):
    on, off = discovery_pair(mode)
    check_discovery_stack(deployment(on).resources(), deployment(off).resources(), mode)


def _role_statements(resources: dict) -> list[dict]:
    """The statements of the role's policy on CloudFront."""
    return next(
        policy["PolicyDocument"]["Statement"]
        for policy in resources["InvalidatorFunctionRole"]["Properties"]["Policies"]
        if any("cloudfront:CreateInvalidation" in as_list(s["Action"]) for s in statements(policy["PolicyDocument"]))
    )


def _statement(resources: dict, action: str) -> dict:
    """The role's statement that grants `action`."""
    return next(
        s
        for policy in resources["InvalidatorFunctionRole"]["Properties"]["Policies"]
        for s in statements(policy["PolicyDocument"])
        if action in as_list(s["Action"])
    )


DISCOVERY_MUTATIONS = [
    pytest.param(
        lambda on, off: _role_statements(on).append(
            {"Effect": "Allow", "Action": "cloudfront:GetDistribution", "Resource": "*"}
        ),
        id="discovery-adds-another-grant",
    ),
    pytest.param(
        lambda on, off: _role_statements(on).remove(LIST_DISTRIBUTIONS),
        id="discovery-without-list",
    ),
    pytest.param(
        lambda on, off: _role_statements(off).append(dict(LIST_DISTRIBUTIONS)),
        id="listed-may-list-too",
    ),
    pytest.param(
        lambda on, off: _statement(on, "cloudfront:CreateInvalidation").update(
            Resource="arn:*:cloudfront::*:distribution/*"
        ),
        id="discovery-reaches-other-accounts",
    ),
    pytest.param(
        lambda on, off: _statement(on, "sqs:SendMessage").update(Resource="*"),
        id="discovery-changes-the-dead-letter-grant",
    ),
]


@pytest.mark.parametrize("mutate", DISCOVERY_MUTATIONS)
def test_discovery_role_check_catches(mutate):
    on_scenario, off_scenario = discovery_pair("bucket-to-queue")
    on = copy.deepcopy(deployment(on_scenario).resources())
    off = copy.deepcopy(deployment(off_scenario).resources())
    check_discovery_role(copy.deepcopy(on), copy.deepcopy(off), off_scenario)
    mutate(on, off)
    with pytest.raises(AssertionError):
        check_discovery_role(on, off, off_scenario)


@pytest.mark.parametrize(
    "mutate",
    [
        pytest.param(lambda r: r["Queue"]["Properties"].update(VisibilityTimeout=900), id="queue-changes"),
        pytest.param(
            lambda r: r["InvalidatorFunction"]["Properties"]["Environment"]["Variables"].update(MAX_PATHS="0"),
            id="another-setting-changes",
        ),
    ],
)
def test_discovery_stack_check_catches(mutate):
    on_scenario, off_scenario = discovery_pair("bucket-to-queue")
    on = copy.deepcopy(deployment(on_scenario).resources())
    off = deployment(off_scenario).resources()
    check_discovery_stack(on, off, "bucket-to-queue")
    mutate(on)
    with pytest.raises(AssertionError):
        check_discovery_stack(on, off, "bucket-to-queue")


@pytest.mark.parametrize(
    "ids",
    [
        ("E2DEFAAAAAAAAA=/static",),
        ("E1ABCAAAAAAAAA", "E2DEFAAAAAAAAA=/static"),
        ("E2DEFAAAAAAAAA=/static", "E3GHIAAAAAAAAA=/a/b.c", "E4JKLAAAAAAAAA"),
        ("E5MNOAAAAAAAAA=/x:y", "E6PQRAAAAAAAAA=/E7STUAAAAAAAAA"),
        # One distribution serving the bucket through two origins.
        ("E1ABCAAAAAAAAA=/site", "E1ABCAAAAAAAAA=/assets"),
    ],
    ids=lambda ids: ",".join(ids),
)
def test_origin_paths_leave_the_ids_alone(ids):
    """`ID=/path` gives the ARN of ID: the role may invalidate, and the bucket
    lets read, exactly the listed distributions; each path's own entry is
    `distribution//path`, which no distribution ARN matches, even a path
    that reads like an ID."""
    pattern = sam()["Parameters"]["DistributionIds"]["AllowedPattern"]
    assert all(re.fullmatch(pattern, item) for item in ids), "CloudFormation would refuse these"
    scenario = Scenario("bucket-to-function", ids)
    resources = deployment(scenario).resources()
    role_arns = as_list(_statement(resources, "cloudfront:CreateInvalidation")["Resource"])
    (read,) = allows(resources["BucketPolicy"]["Properties"]["PolicyDocument"])
    read_arns = as_list(read["Condition"]["ArnLike"]["aws:SourceArn"])
    ids_only = [f"arn:*:cloudfront::*:distribution/{i.split('=')[0]}" for i in ids]
    path_entries = [f"arn:*:cloudfront::*:distribution//{i.split('=/')[1]}" for i in ids if "=" in i]
    for arns in (role_arns, read_arns):
        assert sorted(arns) == sorted(ids_only + path_entries)
        assert not any("=" in a for a in arns)
        for entry in path_entries:
            assert not any(arn_like(entry, distribution_arn(c)) for c in ["E7STUAAAAAAAAA", "E5MNOAAAAAAAAA", "E1"])
        assert_reaches_exactly(arns, scenario)


@pytest.mark.parametrize("mode", MODES)
def test_one_distribution_with_two_origin_paths_deploys(mode):
    """E1=/site,E1=/assets: the function takes it, and the stack too."""
    scenario = Scenario(mode, ("E1ABCAAAAAAAAA=/site", "E1ABCAAAAAAAAA=/assets"))
    d = deployment(scenario)
    assert d.failed_rules() == []
    assert lint_scenario(d) == []
    resources = d.resources()
    check_role(resources, scenario)
    check_function(resources, scenario)


def test_repeated_auto_still_discovers():
    """The rule lets auto be repeated; it stays discovery, and the function
    sees auto once."""
    scenario = Scenario("bucket-to-function", ("auto", "auto"))
    d = Deployment(translated(scenario), scenario.params)
    assert d.failed_rules() == [] and d.conditions["Discover"]
    resources = d.resources()
    assert resources["InvalidatorFunction"]["Properties"]["Environment"]["Variables"]["DISTRIBUTION_IDS"] == "auto"
    assert _statement(resources, "cloudfront:ListDistributions")["Resource"] == "*"


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
        ({"DistributionIds": "auto"}, None),
        ({"DistributionIds": "auto,E1AAAAAAAAAAAA"}, "must be the only item"),
        ({"DistributionIds": "E1AAAAAAAAAAAA,auto"}, "must be the only item"),
        # The function reads AUTO as auto, while the stack would list it as an ID.
        ({"DistributionIds": "AUTO"}, "must be the only item"),
        ({"DistributionIds": "E1AAAAAAAAAAAA=/auto"}, None),
        # Each direct invocation takes its share of CloudFront's 15 wildcards.
        ({"Wiring": "bucket-to-function", "ReservedConcurrency": "15"}, None),
        ({"Wiring": "bucket-to-function", "ReservedConcurrency": "16"}, "1 to 15"),
        ({"Wiring": "bucket-to-function", "ReservedConcurrency": "100"}, "1 to 15"),
        ({"Wiring": "bucket-to-queue", "ReservedConcurrency": "100"}, None),
        ({"Wiring": "bucket-to-queue", "ReservedConcurrency": "4"}, None),
        # The two mappings run up to 2 invocations each.
        ({"Wiring": "bucket-to-queue", "ReservedConcurrency": "3"}, "at least 4"),
        ({"Wiring": "existing-bucket", "ExistingBucketName": "b1", "ReservedConcurrency": "1"}, "at least 4"),
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
    # The queue: one request per deploy, and two invocations at most.
    assert params["Wiring"]["Default"] == "bucket-to-queue"
    reserved = params["ReservedConcurrency"]
    assert reserved["Default"] == "" and reserved["Type"] == "String"
    for good in ("", "1", "10", "15", "200"):
        assert re.fullmatch(reserved["AllowedPattern"], good), good
    for bad in ("0", "-1", "01", "ten", "10000"):
        assert not re.fullmatch(reserved["AllowedPattern"], bad), bad
    size, window = params["BatchSize"], params["BatchWindowSeconds"]
    assert (size["Default"], size["MinValue"], size["MaxValue"]) == (10000, 1, 10000)
    assert (window["Default"], window["MinValue"], window["MaxValue"]) == (60, 0, 300)
    # CloudFormation matches AllowedPattern against the whole value.
    bucket_pattern = params["ExistingBucketName"]["AllowedPattern"]
    for good in ("", EXISTING_BUCKET, "a.b-c"):
        assert re.fullmatch(bucket_pattern, good), good
    for bad in ("My_Site", "-site", "s3://site", "arn:aws:s3:::site"):
        assert not re.fullmatch(bucket_pattern, bad), bad


@pytest.mark.parametrize(
    "param, good, bad",
    [
        (
            "DistributionIds",
            ["E2QWRUHAPOMQZL", "E2DEF=/static", "E2DEF=/a/b.c", "E2DEF=/x:y", "auto"],
            [
                "",
                "e2qwruhapomqzl",
                "Auto",
                "auto=/static",
                "arn:aws:cloudfront::123456789012:distribution/E2DEF",
                "d111111abcdef8.cloudfront.net",
                "E2DEF=static",
                "E2DEF=/",
                "E2DEF=/static/",
                "E2DEF=//static",
                "E2DEF=/a b",
                "E2DEF=/a*",
                # Wildcards in a policy: the path's own entry must match nothing.
                "E2DEF=/a?",
                # The ARNs are cut at '=': /x=E3GHI would grant E3GHI.
                "E2DEF=/x=E3GHI",
            ],
        ),
        ("IndexDocument", ["", "index.html", "default.htm"], ["docs/index.html", "*.html"]),
        (
            "BucketDomains",
            ["", "assets.example.com", "assets.example.com,site-ap-abc123-s3alias", "a.example.com, b.example.org"],
            ["https://assets.example.com", "assets.example.com/static", "a..b", "my bucket", "a.b;c"],
        ),
        (
            "Include",
            ["", "static/**,media/**", "**/*.map", "*.css", "a?b", "**", "static/a/b", "a, b/c"],
            # Keys never start with '/': such a pattern would match nothing.
            ["***", "static/***/x", "a,****", "/static/**", "static/**,/media/**", "a, /b", " /a"],
        ),
        ("Exclude", ["", "**/*.map,*.tmp"], ["***.map", "/**/*.map", "*.tmp,/x"]),
        (
            "MetricsNamespace",
            ["CloudFrontInvalidator", "Acme/Site-Invalidator", "a.b_c#d:e"],
            # AWS/ is CloudWatch's own; a quote or a space would break the
            # dashboard's JSON or its SEARCH expressions.
            ["", "AWS/CloudFront", ":x", 'a"b', "a b", "a\\b", "x" * 256],
        ),
        (
            "AlarmTopicArn",
            ["", EXISTING_TOPIC, "arn:aws-us-gov:sns:us-gov-west-1:123456789012:alarms_1"],
            # CloudWatch alarms cannot publish to a FIFO topic.
            ["ops-pager", f"{EXISTING_TOPIC}.fifo", "arn:aws:sqs:us-east-1:123456789012:q", f"{EXISTING_TOPIC} "],
        ),
        ("AlarmEmail", ["", "ops@example.com", "a.b+c@d.example.org"], ["ops", "a@b", "a@b.c,d@e.f", "a b@c.d"]),
    ],
)
def test_setting_patterns(param, good, bad):
    """CloudFormation matches AllowedPattern against the whole value (each item
    of a list): what the function would refuse at start-up is refused here."""
    pattern = sam()["Parameters"][param]["AllowedPattern"]
    for value in good:
        assert re.fullmatch(pattern, value), value
    for value in bad:
        assert not re.fullmatch(pattern, value), value


def test_setting_parameters():
    params = sam()["Parameters"]
    assert params["DistributionIds"]["Type"] == "CommaDelimitedList"
    assert "Default" not in params["DistributionIds"], "the distributions must be chosen"
    for name, (_, default) in SETTINGS.items():
        assert str(params[name]["Default"]) == default, name
    assert params["SkipHashedNames"]["AllowedValues"] == ["false", "true"]
    assert params["DryRun"]["AllowedValues"] == ["false", "true"]
    max_paths = params["MaxPaths"]
    assert (max_paths["Type"], max_paths["MinValue"], max_paths["MaxValue"]) == ("Number", 0, 3000)


def test_operations_parameters():
    params = sam()["Parameters"]
    for name, default in OPS_DEFAULTS.items():
        assert str(params[name]["Default"]) == default, name
    assert params["FreshNotices"]["AllowedValues"] == ["false", "true"]
    timeout = params["FreshTimeoutMinutes"]
    # SQS takes a maxReceiveCount of 1 to 1000.
    assert (timeout["Type"], timeout["MinValue"], timeout["MaxValue"]) == ("Number", 5, 1000)
    age = params["QueueAgeAlarmSeconds"]
    # Not below what a healthy queue reaches (the longest window and a
    # function timeout), not above the week the queue keeps a message.
    function = sam()["Resources"]["InvalidatorFunction"]["Properties"]
    assert age["MinValue"] >= params["BatchWindowSeconds"]["MaxValue"] + function["Timeout"]
    assert age["MaxValue"] == sam()["Resources"]["Queue"]["Properties"]["MessageRetentionPeriod"]
    # What CloudWatch Logs takes, and SAM's two tracing modes that mean on and off.
    retention = params["LogRetentionDays"]["AllowedValues"]
    assert retention[:6] == [1, 3, 5, 7, 14, 30] and retention[-1] == 3653
    assert params["Tracing"]["AllowedValues"] == ["Disabled", "Active"]
    boundary = params["PermissionsBoundary"]["AllowedPattern"]
    for good in ("", BOUNDARY, "arn:aws-us-gov:iam::123456789012:policy/path/to/Boundary_1"):
        assert re.fullmatch(boundary, good), good
    for bad in ("team-boundary", "arn:aws:iam::aws:role/x", f"{BOUNDARY} "):
        assert not re.fullmatch(boundary, bad), bad



def retry_delay() -> dict:
    """plan::retry_delay read from src/plan.rs: minutes by receive count, as
    {count: minutes} with the catch-all under None."""
    source = (ROOT / "src/plan.rs").read_text()
    body = re.search(r"pub fn retry_delay\(receive_count: u32\)[^{]*\{(.*?)\n\}", source, re.S)
    assert body, "src/plan.rs has no retry_delay(receive_count: u32): update this test to read the ladder"
    arms = re.findall(r"^\s*([0-9_ |]+?)\s*=>\s*(\d+),", body.group(1), re.M)
    assert arms and arms[-1][0] == "_", f"retry_delay is no longer a match on the count: update this test ({arms})"
    ladder = {}
    for pattern, minutes in arms:
        for count in pattern.split("|"):
            ladder[None if count.strip() == "_" else int(count)] = int(minutes)
    return ladder


def test_the_retry_ladder_the_receive_count_and_their_texts_agree():
    """A change waiting for room comes back after plan::retry_delay; SQS parks
    it after maxReceiveCount receives. Together they must outlast what
    CloudFront takes to complete what fills a distribution (rarely 40
    minutes), so another client's wildcards page no one; and every text that
    gives the figures gives these."""
    ladder = retry_delay()
    delay = lambda count: ladder.get(count, ladder[None])  # noqa: E731
    sam_queue = sam()["Resources"]["Queue"]["Properties"]
    receives = sam_queue["RedrivePolicy"]["maxReceiveCount"]
    assert receives == MAX_RECEIVES
    tried_for = sum(delay(n) for n in range(1, receives))
    parked_after = tried_for + delay(receives)
    assert (tried_for, parked_after) == (42, 57)
    assert 40 < tried_for and parked_after <= 60, "texts say: tried for 42 minutes, parked about an hour after"
    # Any other failure comes back after the visibility timeout.
    other = receives * sam_queue["VisibilityTimeout"] / 60
    assert 120 <= other <= 150, "texts say: about 2 h 20 min"
    steps = sorted({delay(n) for n in range(1, receives + 1)})
    wording = ", ".join(map(str, steps[:-1])) + f", then {steps[-1]} minutes"
    assert wording == "1, 3, 8, then 15 minutes"
    def prose(text: str) -> str:  # lines joined, YAML comment marks dropped
        return " ".join(re.sub(r"\n\s*#", " ", text).split())

    template = prose((ROOT / "template.yaml").read_text())
    docs = {p.name: prose(p.read_text()) for p in [ROOT / "README.md", *(ROOT / "docs").glob("*.md")]}
    assert wording in template and "about an hour" in template and "2 h 20 min" in template
    assert wording in docs["operating.md"] and wording in docs["paths-and-planning.md"]
    # What the texts for operators say about a change's tries and receives:
    # the count. (docs/evidence.md describes the benchmarks' own drivers; the
    # watch queue's receives run to the hundreds.)
    words = {"four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8}
    for name, text in [("template.yaml", template)] + [(n, t) for n, t in docs.items() if n != "evidence.md"]:
        for count, _ in re.findall(r"\b(\d+|four|five|six|seven|eight) (tries|receives)\b", text):
            count = int(words.get(count, count))
            assert count == receives or count >= 100, f"{name} says {count} tries or receives"


def _widen_role(r):
    r["InvalidatorFunctionRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"].append(
        {"Effect": "Allow", "Action": "sqs:*", "Resource": "*"}
    )


def _extra_distribution(r):
    for policy in r["InvalidatorFunctionRole"]["Properties"]["Policies"]:
        for s in statements(policy["PolicyDocument"]):
            if "cloudfront:CreateInvalidation" in as_list(s["Action"]):
                s["Resource"] = as_list(s["Resource"]) + ["arn:*:cloudfront::*:distribution/*"]


def _prefix_wildcards(r):
    s = _statement(r, "cloudfront:CreateInvalidation")
    s["Resource"] = [a + "*" if a[-1].isalnum() else a for a in as_list(s["Resource"])]


def _paths_kept_in_arns(r):
    # What the template gave before IDs could carry a path: one ARN per item.
    s = _statement(r, "cloudfront:CreateInvalidation")
    s["Resource"] = [f"arn:*:cloudfront::*:distribution/{i}" for i in WITH_PATHS]


def _bucket_read_by_paths(r):
    for s in statements(r["BucketPolicy"]["Properties"]["PolicyDocument"]):
        if s["Effect"] == "Allow":
            s["Condition"]["ArnLike"]["aws:SourceArn"] = [f"arn:*:cloudfront::*:distribution/{i}" for i in WITH_PATHS]


def _bucket_read_by_any_account(r):
    for s in statements(r["BucketPolicy"]["Properties"]["PolicyDocument"]):
        if s["Effect"] == "Allow":
            s["Condition"]["ArnLike"]["aws:SourceArn"] = "arn:*:cloudfront::*:distribution/*"
            del s["Condition"]["StringEquals"]


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
    pytest.param("bucket-to-function", lambda r: r["Bucket"].pop("DeletionPolicy"), check_bucket, id="bucket-deleted-with-stack"),
    pytest.param(
        "bucket-to-queue",
        lambda r: r["BucketPolicy"].update(UpdateReplacePolicy="Delete"),
        check_bucket,
        id="bucket-policy-lost-on-replacement",
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
    pytest.param(
        "bucket-to-queue",
        lambda r: r["QueueEventSourceMapping"]["Properties"].update(ScalingConfig={"MaximumConcurrency": 5}),
        check_event_source_mapping,
        id="more-planners-than-the-function-shares-for",
    ),
    pytest.param(
        "bucket-to-function",
        lambda r: r["InvalidatorFunction"]["Properties"].pop("ReservedConcurrentExecutions"),
        check_function,
        id="direct-invocations-unbounded",
    ),
    pytest.param(
        "existing-bucket",
        lambda r: r["InvalidatorFunction"]["Properties"].update(ReservedConcurrentExecutions=10),
        check_function,
        id="queue-wiring-reserves-unasked",
    ),
    pytest.param("existing-bucket", _any_bucket_events, check_rule, id="rule-for-every-bucket"),
    pytest.param(
        "existing-bucket",
        lambda r: r["ObjectEventsRule"]["Properties"]["Targets"][0].pop("DeadLetterConfig"),
        check_rule,
        id="rule-drops-undelivered-events",
    ),
    pytest.param(
        "bucket-to-function",
        lambda r: r["Bucket"]["Properties"]["NotificationConfiguration"]["LambdaConfigurations"].pop(),
        check_notifications,
        id="lifecycle-expirations-not-notified",
    ),
]


# The same for listed origin paths and for discovery: (mode, kind of scenario).
MORE_MUTATIONS = [
    pytest.param(("bucket-to-queue", "paths"), _prefix_wildcards, check_role, id="ids-get-prefix-wildcards"),
    pytest.param(("existing-bucket", "paths"), _paths_kept_in_arns, check_role, id="paths-kept-in-role-arns"),
    pytest.param(("bucket-to-function", "paths"), _bucket_read_by_paths, check_bucket, id="paths-kept-in-bucket-arns"),
    pytest.param(
        ("bucket-to-function", "auto"), _bucket_read_by_any_account, check_bucket, id="discovery-bucket-any-account"
    ),
    pytest.param(
        ("bucket-to-queue", "auto"),
        lambda r: _statement(r, "cloudfront:ListDistributions").update(Action="cloudfront:List*"),
        check_role,
        id="discovery-lists-with-wildcard",
    ),
    pytest.param(
        ("existing-bucket", "auto"),
        lambda r: _statement(r, "cloudfront:CreateInvalidation").update(Resource="*"),
        check_role,
        id="discovery-invalidates-anything",
    ),
    pytest.param(
        ("bucket-to-queue", "paths"),
        lambda r: _statement(r, "cloudfront:GetDistributionConfig").update(Resource="*"),
        check_role,
        id="reads-every-distribution",
    ),
    pytest.param(
        ("bucket-to-function", "auto"),
        lambda r: _role_statements(r).append(
            {"Effect": "Allow", "Action": "cloudfront:GetDistributionConfig", "Resource": ACCOUNT_DISTRIBUTIONS}
        ),
        check_role,
        id="discovery-reads-configs-it-has",
    ),
    pytest.param(
        ("existing-bucket", "paths"),
        lambda r: _statement(r, "cloudfront:GetCachePolicy").update(Resource="*"),
        check_role,
        id="reads-any-accounts-cache-policies",
    ),
    pytest.param(
        ("bucket-to-queue", "paths"),
        lambda r: r["InvalidatorFunction"]["Properties"]["Environment"]["Variables"].update(MAX_PATHS="100"),
        check_function,
        id="max-paths-ignores-parameter",
    ),
    pytest.param(
        ("bucket-to-function", "paths"),
        lambda r: r["InvalidatorFunction"]["Properties"]["Environment"]["Variables"].pop("INDEX_DOCUMENT"),
        check_function,
        id="empty-index-document-dropped",
    ),
    pytest.param(
        ("bucket-to-function", "paths"),
        lambda r: r["InvalidatorFunction"]["Properties"]["Environment"]["Variables"].update(MAX_CONCURRENCY="10"),
        check_function,
        id="max-concurrency-ignores-reserved-concurrency",
    ),
    pytest.param(
        ("existing-bucket", "auto"),
        lambda r: r["InvalidatorFunction"]["Properties"]["Environment"]["Variables"].update(EXCLUDE=""),
        check_function,
        id="exclude-ignores-parameter",
    ),
]


def _edit_dashboard(old: str, new: str):
    def edit(r):
        props = r["Dashboard"]["Properties"]
        assert old in props["DashboardBody"], old
        props["DashboardBody"] = props["DashboardBody"].replace(old, new)

    return edit


def _edit_query(name: str, old: str, new: str):
    def edit(r):
        props = r[name]["Properties"]
        assert old in props["QueryString"], old
        props["QueryString"] = props["QueryString"].replace(old, new)

    return edit


def _watch_mapping(r) -> dict:
    return next(
        m["Properties"]
        for m in of_type(r, "AWS::Lambda::EventSourceMapping").values()
        if m["Properties"]["EventSourceArn"] == "<WatchQueue.Arn>"
    )


def _alarm(name: str, **changes):
    return lambda r: r[name]["Properties"].update(changes)


# Operating it, each on the scenario where the mistake would show: "two" has
# notices and an e-mail subscription, "paths" an existing alarm topic and
# other values for the namespace, the watch timeout and the queue age.
OPS_MUTATIONS = [
    pytest.param(
        ("bucket-to-queue", "two"),
        lambda r: r["WatchQueue"]["Properties"].update(VisibilityTimeout=180),
        check_watch,
        id="watch-visibility-below-six-function-timeouts",
    ),
    pytest.param(
        ("bucket-to-function", "two"),
        lambda r: r["WatchQueue"]["Properties"].update(MessageRetentionPeriod=345600),
        check_watch,
        id="watch-expires-before-its-last-check",
    ),
    pytest.param(
        ("existing-bucket", "paths"),
        lambda r: r["WatchQueue"]["Properties"]["RedrivePolicy"].update(maxReceiveCount="60"),
        check_watch,
        id="watch-timeout-ignores-parameter",
    ),
    pytest.param(
        ("bucket-to-function", "two"),
        lambda r: _watch_mapping(r).pop("FunctionResponseTypes"),
        check_watch,
        id="watch-without-partial-batch-response",
    ),
    pytest.param(
        ("bucket-to-function", "two"),
        lambda r: r["WatchQueue"]["Properties"].pop("SqsManagedSseEnabled"),
        check_watch,
        id="watch-queue-unencrypted",
    ),
    pytest.param(
        ("bucket-to-queue", "two"),
        lambda r: _statement(r, "sns:Publish").update(Resource="*"),
        check_role,
        id="role-publishes-to-any-topic",
    ),
    pytest.param(
        ("existing-bucket", "auto"),
        lambda r: r["InvalidatorFunctionRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"].append(
            {"Effect": "Allow", "Action": "sns:Publish", "Resource": "<FreshTopic>"}
        ),
        check_role,
        id="role-publishes-with-notices-off",
    ),
    pytest.param(
        ("bucket-to-function", "paths"),
        lambda r: _statement(r, "sqs:ChangeMessageVisibility").update(Resource="*"),
        check_role,
        id="role-watches-any-queue",
    ),
    pytest.param(
        ("existing-bucket", "paths"),
        lambda r: r["InvalidatorFunctionRole"]["Properties"].pop("PermissionsBoundary"),
        check_role,
        id="permissions-boundary-ignored",
    ),
    pytest.param(
        ("bucket-to-queue", "two"),
        lambda r: r["InvalidatorFunctionRole"]["Properties"]["ManagedPolicyArns"].append(XRAY),
        check_role,
        id="xray-granted-with-tracing-off",
    ),
    pytest.param(
        ("bucket-to-queue", "two"),
        lambda r: r["FreshTopic"]["Properties"].pop("KmsMasterKeyId"),
        check_topics,
        id="fresh-topic-unencrypted",
    ),
    pytest.param(
        ("existing-bucket", "paths"),
        lambda r: r.update(AlarmTopic={"Type": "AWS::SNS::Topic", "Properties": {}}),
        check_topics,
        id="alarm-topic-made-beside-the-given-one",
    ),
    pytest.param(
        ("bucket-to-queue", "two"),
        lambda r: r["FreshTopicPolicy"]["Properties"]["PolicyDocument"]["Statement"].pop(0),
        check_topics,
        id="anyone-in-the-account-can-say-fresh",
    ),
    pytest.param(
        ("bucket-to-function", "two"),
        lambda r: r["AlarmTopicPolicy"]["Properties"]["PolicyDocument"]["Statement"].pop(),
        check_topics,
        id="alarm-topic-takes-plain-http",
    ),
    pytest.param(
        ("existing-bucket", "paths"),
        lambda r: r.update(
            AlarmTopicPolicy={"Type": "AWS::SNS::TopicPolicy", "Properties": {"Topics": [EXISTING_TOPIC]}}
        ),
        check_topics,
        id="given-alarm-topic-policy-replaced",
    ),
    pytest.param(
        ("bucket-to-queue", "paths"),
        lambda r: r["DeadLetterQueue"]["Properties"].update(RedriveAllowPolicy={"redrivePermission": "allowAll"}),
        check_queues,
        id="any-queue-may-park-in-the-dead-letter-queue",
    ),
    pytest.param(
        ("bucket-to-function", "two"),
        lambda r: r["WatchQueue"]["Properties"].update(QueueName="cf-invalidator-other-watch"),
        check_watch,
        id="watch-dead-letter-queue-admits-another-queue",
    ),
    pytest.param(
        ("bucket-to-function", "two"),
        lambda r: r["AlarmEmailSubscription"]["Properties"].update(TopicArn="<FreshTopic>"),
        check_topics,
        id="email-subscribed-to-the-wrong-topic",
    ),
    pytest.param(
        ("bucket-to-queue", "paths"),
        _alarm("DeadLetterAlarm", AlarmActions=["<AlarmTopic>"]),
        check_alarms,
        id="alarm-ignores-the-given-topic",
    ),
    pytest.param(
        ("bucket-to-function", "two"),
        lambda r: r["NotFreshAlarm"]["Properties"].pop("OKActions"),
        check_alarms,
        id="alarm-never-says-it-is-over",
    ),
    pytest.param(
        ("existing-bucket", "two"),
        lambda r: r["DeadLetterAlarm"]["Properties"]["Metrics"][0]["MetricStat"]["Metric"].update(
            Dimensions=[{"Name": "QueueName", "Value": "<Queue.QueueName>"}]
        ),
        check_alarms,
        id="dead-letter-alarm-watches-the-changes-queue",
    ),
    pytest.param(
        ("bucket-to-function", "two"),
        lambda r: r["DeadLetterAlarm"]["Properties"]["Metrics"][2].update(Expression="FILL(visible, 0)"),
        check_alarms,
        id="dead-letter-alarm-ok-while-someone-reads-the-queue",
    ),
    pytest.param(
        ("bucket-to-queue", "two"),
        _alarm("QueueAgeAlarm", EvaluationPeriods=1),
        check_alarms,
        id="changes-waiting-ok-once-sqs-stops-counting",
    ),
    pytest.param(
        ("bucket-to-function", "paths"),
        lambda r: r["QueueAgeAlarm"]["Properties"]["Metrics"][1].update(Expression="milliseconds"),
        check_alarms,
        id="async-event-age-compared-in-milliseconds",
    ),
    pytest.param(
        ("existing-bucket", "auto"),
        lambda r: r.pop("WatchAgeAlarm"),
        check_alarms,
        id="stopped-watch-consumer-silent",
    ),
    pytest.param(
        ("existing-bucket", "paths"),
        lambda r: r["EventsMissingAlarm"]["Properties"]["Metrics"][3]["MetricStat"]["Metric"].update(
            MetricName="Invocations"
        ),
        check_alarms,
        id="events-missing-counts-deliveries-not-matches",
    ),
    pytest.param(
        ("existing-bucket", "paths"),
        lambda r: [m["MetricStat"].update(Period=3600) for m in r["EventsMissingAlarm"]["Properties"]["Metrics"][:4]],
        check_alarms,
        id="events-missing-ignores-its-span",
    ),
    pytest.param(
        ("bucket-to-function", "auto"),
        lambda r: r["EventDroppedAlarm"]["Properties"]["Metrics"][2].update(Expression="FILL(dropped, 0)"),
        check_alarms,
        id="undelivered-failure-record-silent",
    ),
    pytest.param(
        ("bucket-to-function", "two"),
        lambda r: r.update(FunctionThrottlesAlarm=copy.deepcopy(r["FunctionErrorsAlarm"])),
        check_alarms,
        id="bounded-concurrency-pages-on-every-deploy",
    ),
    pytest.param(
        ("bucket-to-queue", "paths"),
        lambda r: r["FunctionErrorsAlarm"]["Properties"].update(
            AlarmDescription=r["FunctionErrorsAlarm"]["Properties"]["AlarmDescription"] + " Then make redrive."
        ),
        check_alarms,
        id="alarm-names-a-make-target",
    ),
    pytest.param(
        ("bucket-to-queue", "paths"),
        _alarm("QueueAgeAlarm", Threshold="1800"),
        check_alarms,
        id="queue-age-ignores-parameter",
    ),
    pytest.param(
        ("bucket-to-function", "two"),
        _alarm("DeadLetterAlarm", Threshold=1),
        check_alarms,
        id="dead-letter-alarm-lets-one-pass",
    ),
    pytest.param(
        ("bucket-to-function", "two"),
        _alarm("DeadLetterAlarm", AlarmDescription="Messages in the dead-letter queue."),
        check_alarms,
        id="alarm-says-not-what-to-do",
    ),
    pytest.param(
        ("bucket-to-function", "two"),
        lambda r: r["NotFreshAlarm"]["Properties"].update(
            AlarmDescription=r["NotFreshAlarm"]["Properties"]["AlarmDescription"] + " Stack invalidator." * 12
        ),
        check_alarms,
        id="alarm-description-too-long-for-a-long-stack-name",
    ),
    pytest.param(
        ("bucket-to-queue", "two"),
        _alarm("NotFreshAlarm", TreatMissingData="breaching"),
        check_alarms,
        id="idle-queue-raises-alarm",
    ),
    pytest.param(
        ("existing-bucket", "two"),
        _alarm("FunctionErrorsAlarm", MetricName="Error"),
        check_alarms,
        id="errors-alarm-on-no-metric",
    ),
    pytest.param(
        ("bucket-to-queue", "two"),
        lambda r: r.pop("QueueAgeAlarm"),
        check_alarms,
        id="no-queue-age-alarm",
    ),
    pytest.param(
        ("bucket-to-queue", "two"),
        lambda r: r["FailuresQuery"]["Properties"].update(Name="invalidator/Errors"),
        check_alarms,
        id="alarm-names-a-query-that-is-gone",
    ),
    pytest.param(
        ("bucket-to-queue", "paths"),
        _edit_dashboard('"Acme/Site-Invalidator", "PathsSubmitted"', '"CloudFrontInvalidator", "PathsSubmitted"'),
        check_dashboard,
        id="dashboard-hard-codes-the-namespace",
    ),
    pytest.param(
        ("bucket-to-function", "two"),
        _edit_dashboard('"SecondsToFresh", {"stat": "p99"', '"SecondToFresh", {"stat": "p99"'),
        check_dashboard,
        id="dashboard-misspells-a-metric",
    ),
    pytest.param(
        ("existing-bucket", "two"),
        _edit_dashboard(',Reason} MetricName=\\"RequestsFailed', ',Distribution} MetricName=\\"RequestsFailed'),
        check_dashboard,
        id="dashboard-searches-a-dimension-never-emitted",
    ),
    pytest.param(
        ("bucket-to-queue", "two"),
        _edit_dashboard('"<Queue.QueueName>"', '"cf-invalidator-queue"'),
        check_dashboard,
        id="dashboard-graphs-another-queue",
    ),
    pytest.param(
        ("existing-bucket", "paths"),
        _edit_dashboard('"ApproximateAgeOfOldestMessage"', '"ApproximateNumberOfMessagesDelayed"'),
        check_dashboard,
        id="dashboard-without-queue-age",
    ),
    pytest.param(
        ("bucket-to-function", "two"),
        _edit_dashboard('"<NotFreshAlarm.Arn>", ', ""),
        check_dashboard,
        id="dashboard-misses-an-alarm",
    ),
    pytest.param(
        ("bucket-to-function", "auto"),
        _edit_dashboard("fields.invalidation_id", "fields.invalidationId"),
        check_dashboard,
        id="dashboard-log-reads-a-field-never-logged",
    ),
    pytest.param(
        ("bucket-to-queue", "two"),
        lambda r: r["KeyQuery"]["Properties"].update(LogGroupNames=["/aws/lambda/invalidator"]),
        check_queries,
        id="query-on-another-log-group",
    ),
    pytest.param(
        ("existing-bucket", "two"),
        _edit_query("InvalidationsQuery", '"invalidation created"', '"invalidation_created"'),
        check_queries,
        id="query-for-a-message-never-logged",
    ),
    pytest.param(
        ("bucket-to-function", "two"),
        _edit_query("FailuresQuery", '["ERROR", "WARN"]', '["ERROR"]'),
        check_queries,
        id="failures-query-misses-warnings",
    ),
    pytest.param(
        ("bucket-to-function", "two"),
        lambda r: r["InvalidatorFunction"]["Properties"]["Environment"]["Variables"].update(FRESH_TOPIC_ARN=""),
        check_function,
        id="notices-on-but-no-topic-for-the-function",
    ),
    pytest.param(
        ("existing-bucket", "paths"),
        lambda r: r["InvalidatorFunction"]["Properties"]["Environment"]["Variables"].update(
            METRICS_NAMESPACE="CloudFrontInvalidator"
        ),
        check_function,
        id="metrics-namespace-ignores-parameter",
    ),
]


@pytest.mark.parametrize("mode, mutate, check", MUTATIONS + MORE_MUTATIONS + OPS_MUTATIONS)
def test_checks_catch_a_broken_stack(mode, mutate, check):
    scenario = scenario_of(*mode) if isinstance(mode, tuple) else scenario_of(mode, "two")
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
    matches = lint_scenario(Deployment(translate(broken, scenario.params), scenario.params))
    assert any("QueuePolicy" in m for m in matches), matches


def _invalidate_anything(resources):
    _statement(resources, "cloudfront:CreateInvalidation")["Resource"] = "*"


# What checkov scans: template.yaml with each wiring as the default (checkov
# evaluates Conditions with the parameters' defaults, so the project's own run
# covers bucket-to-function only), and, for the role SAM makes from the
# function's Policies, the translated stack of each wiring with origin paths
# and with discovery; plus one translated stack broken on purpose.
CHECKOV_TRANSLATED = [scenario_of(mode, kind) for mode in MODES for kind in ("paths", "auto")]
CHECKOV_BROKEN = (scenario_of("bucket-to-function", "auto"), _invalidate_anything)


def wiring_file(mode: str) -> str:
    return f"wiring-{mode}.json"


def translated_file(scenario: Scenario) -> str:
    return f"translated-{scenario}.json"


@pytest.fixture(scope="module")
def checkov_results(tmp_path_factory) -> dict[str, dict[str, list[dict]]]:
    """checkov's findings per file name. Most of a run is checkov starting, so
    the runs go at once, and the translated stacks share one: they hold no
    Conditions, and checkov finds in each exactly what it finds in it alone.
    Each wiring's template gets a run of its own, because a run over several
    files evaluates one file's Conditions with another's (resources of the
    same name)."""
    checkov = shutil.which("checkov")
    if checkov is None:
        pytest.fail("checkov is not on PATH: `make tools` installs it into .venv/checkov")
    wirings = tmp_path_factory.mktemp("checkov-wirings")
    translated = tmp_path_factory.mktemp("checkov-translated")
    for mode in MODES:
        template = copy.deepcopy(sam())
        template["Parameters"]["Wiring"]["Default"] = mode
        template["Parameters"]["ExistingBucketName"]["Default"] = EXISTING_BUCKET
        # So that the completion topic is scanned too (the alarm topic is by default).
        template["Parameters"]["FreshNotices"]["Default"] = "true"
        (wirings / wiring_file(mode)).write_text(json.dumps(template))
    for scenario in CHECKOV_TRANSLATED:
        (translated / translated_file(scenario)).write_text(json.dumps(deployment(scenario).without_conditions()))
    scenario, mutate = CHECKOV_BROKEN
    broken = copy.deepcopy(deployment(scenario).without_conditions())
    mutate(broken["Resources"])
    (translated / "broken.json").write_text(json.dumps(broken))
    targets = [["-f", str(wirings / wiring_file(mode))] for mode in MODES] + [["-d", str(translated)]]
    runs = [
        subprocess.Popen(
            [checkov, "--compact", "--skip-download", "--framework", "cloudformation", "-o", "json", *target],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for target in targets
    ]
    results: dict[str, dict[str, list[dict]]] = {}
    for run in runs:
        stdout, stderr = run.communicate(timeout=300)
        report = json.loads(stdout)
        assert report["summary"]["parsing_errors"] == 0, stderr
        # checkov exits 1 on a failed check, which checkov_findings reports.
        assert run.returncode in (0, 1), stderr
        for kind in ("passed_checks", "failed_checks", "skipped_checks"):
            for check in report["results"][kind]:
                results.setdefault(Path(check["file_path"]).name, {}).setdefault(kind, []).append(check)
    expected = {wiring_file(m) for m in MODES} | {translated_file(s) for s in CHECKOV_TRANSLATED} | {"broken.json"}
    assert set(results) == expected, "checkov did not scan every file"
    return results


def checkov_findings(results: dict, name: str) -> dict[str, list[dict]]:
    """One file's findings; it must have passed every check it was not told
    to skip (with a reason, in the template)."""
    found = results[name]
    assert found.get("passed_checks"), f"checkov passed nothing in {name}"
    failed = [(c["check_id"], c["resource"]) for c in found.get("failed_checks", [])]
    assert failed == [], failed
    return found


def scanned(found: dict) -> set[str]:
    return {c["resource"] for kind in ("passed_checks", "skipped_checks") for c in found.get(kind, [])}


@pytest.mark.parametrize("mode", MODES)
def test_checkov_passes_every_wiring(mode, checkov_results):
    found = scanned(checkov_findings(checkov_results, wiring_file(mode)))
    assert ("AWS::SQS::Queue.Queue" in found) == (mode in QUEUE_MODES), "checkov did not scan this wiring"
    assert {"AWS::SNS::Topic.FreshTopic", "AWS::SNS::Topic.AlarmTopic", "AWS::SQS::Queue.WatchQueue"} <= found


@pytest.mark.parametrize("scenario", CHECKOV_TRANSLATED, ids=str)
def test_checkov_passes_the_translated_role(scenario, checkov_results):
    """On template.yaml checkov sees the function but not the role SAM makes
    from its Policies; on the translated stack it checks the role's policies
    too, with discovery's grants and without."""
    found = checkov_findings(checkov_results, translated_file(scenario))
    role = "AWS::IAM::Role.InvalidatorFunctionRole"
    passed_on_role = {c["check_id"] for c in found["passed_checks"] if c["resource"] == role}
    # '*' actions; credentials exposure, data exfiltration, permissions
    # management, privilege escalation and write access without constraints.
    policy_checks = {"CKV_AWS_63", "CKV_AWS_107", "CKV_AWS_108", "CKV_AWS_109", "CKV_AWS_110", "CKV_AWS_111"}
    assert policy_checks <= passed_on_role, "checkov did not check the role's policies"


def test_checkov_on_the_translated_role_catches_invalidating_anything(checkov_results):
    with pytest.raises(AssertionError, match="InvalidatorFunctionRole"):
        checkov_findings(checkov_results, "broken.json")
