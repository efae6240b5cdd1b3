"""template.yaml deployed into the local AWS as CloudFormation would deploy it.

The SAM translator turns the template into CloudFormation (tests/template's
cfn_eval.translate, the same call the template tests make), and moto's
CloudFormation creates it with CreateStack and the real parameter values.
Everything the tests then need is read back from what moto created: outputs,
the function's configuration, the event source mapping, the queue's
attributes. Only what moto's CloudFormation skips (listed in SKIPPED) is read
from the translated template, rendered for the same parameters.
"""

from __future__ import annotations

import io
import json
import zipfile
from dataclasses import dataclass, field

from cfn_eval import Deployment, load_sam, translate

# Resource types moto 5.2.5's CloudFormation does not create (it warns and goes
# on). tests/template keeps checking them offline; deploy() fails if moto skips
# anything else, or starts creating one of these.
SKIPPED = {
    "AWS::S3::BucketPolicy",
    "AWS::SQS::QueuePolicy",
    "AWS::Lambda::EventInvokeConfig",
    "AWS::Logs::QueryDefinition",
    "AWS::SNS::Subscription",
    "AWS::SNS::TopicPolicy",
}

ARTIFACTS = "stack-test-artifacts"
CODE_KEY = "cloudfront-invalidator.zip"


@dataclass
class Mapping:
    """An event source mapping of the function, and the queue it reads."""

    logical_id: str
    mapping: dict  # GetEventSourceMapping
    queue_url: str
    queue: dict  # the queue's attributes


@dataclass
class Stack:
    """One deployed stack, as the AWS APIs report it."""

    name: str
    params: dict[str, str]
    outputs: dict[str, str]
    resources: dict[str, tuple[str, str]]  # logical ID -> (type, physical ID), what moto created
    skipped: dict[str, str]  # logical ID -> type, what moto did not create
    function: dict  # GetFunctionConfiguration
    reserved_concurrency: int | None  # GetFunctionConcurrency
    mappings: list[Mapping]  # every event source mapping of the function
    dead_letter_url: str = ""
    dead_letter_arn: str = ""
    # From the translated template, for what moto skips or drops (see player.py).
    invoke_config: dict = field(default_factory=dict)
    log_format: str | None = None

    @property
    def wiring(self) -> str:
        """The Wiring given, or the template's default."""
        return self.params.get("Wiring") or load_sam()["Parameters"]["Wiring"]["Default"]

    @property
    def planners(self) -> int:
        """How many invocations may plan at once, as the deployed stack bounds
        them: the changes queue's mapping's MaximumConcurrency, or (invoked
        by S3 directly) the function's reserved concurrency; None unbounded."""
        if self.changes:
            return int((self.changes.mapping.get("ScalingConfig") or {}).get("MaximumConcurrency", 0)) or None
        return self.reserved_concurrency

    @property
    def bucket(self) -> str:
        return self.outputs.get("BucketName") or self.params["ExistingBucketName"]

    @property
    def changes(self) -> Mapping | None:
        """The mapping of the changes queue (the queue wirings' QueueUrl)."""
        url = self.outputs.get("QueueUrl")
        return next((m for m in self.mappings if m.queue_url == url), None) if url else None

    @property
    def queue_urls(self) -> list[str]:
        return [physical for kind, physical in self.resources.values() if kind == "AWS::SQS::Queue"]


def upload_code(aws) -> None:
    """The code package the function resource names. moto stores it and never
    runs it (no Docker here): the player runs the host build of the same crate
    instead, so a placeholder says so."""
    s3 = aws.client("s3")
    if ARTIFACTS in {b["Name"] for b in s3.list_buckets()["Buckets"]}:
        return
    s3.create_bucket(Bucket=ARTIFACTS)
    package = io.BytesIO()
    with zipfile.ZipFile(package, "w") as z:
        z.writestr("bootstrap", "#!/bin/sh\n# placeholder: the stack tests run target/debug/cloudfront-invalidator\n")
    s3.put_object(Bucket=ARTIFACTS, Key=CODE_KEY, Body=package.getvalue())


def translated(params: dict[str, str]) -> dict:
    sam = load_sam()
    sam["Resources"]["InvalidatorFunction"]["Properties"]["CodeUri"] = f"s3://{ARTIFACTS}/{CODE_KEY}"
    return translate(sam, params)


def deploy(aws, name: str, params: dict[str, str]) -> Stack:
    upload_code(aws)
    template = translated(params)
    cfn = aws.client("cloudformation")
    stack_id = cfn.create_stack(
        StackName=name,
        TemplateBody=json.dumps(template),
        Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in params.items()],
        Capabilities=["CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"],
    )["StackId"]
    described = cfn.describe_stacks(StackName=stack_id)["Stacks"][0]
    assert described["StackStatus"] == "CREATE_COMPLETE", described
    outputs = {o["OutputKey"]: o["OutputValue"] for o in described.get("Outputs", [])}

    summaries = cfn.list_stack_resources(StackName=stack_id)["StackResourceSummaries"]
    resources = {r["LogicalResourceId"]: (r["ResourceType"], r.get("PhysicalResourceId", "")) for r in summaries}
    rendered = Deployment(template, params)
    wanted = {n: r["Type"] for n, r in rendered.kept("Resources").items()}
    skipped = {n: t for n, t in wanted.items() if n not in resources}
    assert set(skipped) == {n for n, t in wanted.items() if t in SKIPPED}, (
        f"moto's CloudFormation no longer skips exactly {sorted(SKIPPED)}: it skipped {skipped}"
    )

    lam, sqs = aws.client("lambda"), aws.client("sqs")
    function = lam.get_function_configuration(FunctionName=outputs["FunctionArn"])
    reserved = lam.get_function_concurrency(FunctionName=outputs["FunctionArn"]).get("ReservedConcurrentExecutions")
    queues = {}
    for kind, url in resources.values():
        if kind == "AWS::SQS::Queue":
            queues[url] = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    by_arn = {attrs["QueueArn"]: url for url, attrs in queues.items()}
    mapping_ids = {physical: logical for logical, (kind, physical) in resources.items()
                   if kind == "AWS::Lambda::EventSourceMapping"}
    mappings = []
    for uuid, logical in mapping_ids.items():
        mapping = lam.get_event_source_mapping(UUID=uuid)
        assert mapping["FunctionArn"] == function["FunctionArn"], mapping
        url = by_arn[mapping["EventSourceArn"]]
        mappings.append(Mapping(logical, mapping, url, queues[url]))
    dead_letter_url = outputs["DeadLetterQueueUrl"]
    dead_letter_arn = queues[dead_letter_url]["QueueArn"]

    # moto skips EventInvokeConfig and keeps no LoggingConfig, so these two
    # come from the translated template, rendered for these parameters, with
    # the one reference in them (the dead-letter queue) resolved to what moto
    # created.
    rendered_resources = rendered.resources()
    invoke_config = rendered_resources["InvalidatorFunctionEventInvokeConfig"]["Properties"]
    on_failure = invoke_config["DestinationConfig"]["OnFailure"]
    assert on_failure["Destination"] == "<DeadLetterQueue.Arn>", on_failure
    invoke_config = json.loads(json.dumps(invoke_config).replace("<DeadLetterQueue.Arn>", dead_letter_arn))
    logging_config = rendered_resources["InvalidatorFunction"]["Properties"].get("LoggingConfig", {})

    return Stack(
        name=name,
        params=params,
        outputs=outputs,
        resources=resources,
        skipped=skipped,
        function=function,
        reserved_concurrency=None if reserved is None else int(reserved),
        mappings=mappings,
        dead_letter_url=dead_letter_url,
        dead_letter_arn=dead_letter_arn,
        invoke_config=invoke_config,
        log_format=(function.get("LoggingConfig") or {}).get("LogFormat") or logging_config.get("LogFormat"),
    )


# -- CloudFront distributions ---------------------------------------------------


# Managed cache policies (CloudFront Developer Guide, "Use managed cache
# policies"): CachingOptimized keys on no query string, the other on all.
CACHING_OPTIMIZED = "658327ea-f89d-4fab-a63d-7e88639e58f6"
QUERY_STRINGS = "4cc15a8a-d715-48a4-82b8-cc0b614638fe"  # UseOriginCacheControlHeaders-QueryStrings


def _distribution_config(reference: str, bucket: str, origin_path: str, comment: str,
                         cache_policy: str = CACHING_OPTIMIZED) -> dict:
    return {
        "CallerReference": reference,
        "Comment": comment,
        "Enabled": True,
        "Origins": {
            "Quantity": 1,
            "Items": [
                {
                    "Id": "s3-origin",
                    "DomainName": f"{bucket}.s3.us-east-1.amazonaws.com",
                    "OriginPath": origin_path,
                    "S3OriginConfig": {"OriginAccessIdentity": ""},
                }
            ],
        },
        "DefaultCacheBehavior": {
            "TargetOriginId": "s3-origin",
            "ViewerProtocolPolicy": "redirect-to-https",
            "CachePolicyId": cache_policy,
        },
        "DefaultRootObject": "index.html",
    }


def create_distribution(aws, bucket: str, origin_path: str, comment: str, cache_policy: str = CACHING_OPTIMIZED) -> str:
    config = _distribution_config(f"{comment}-{bucket}{origin_path}", bucket, origin_path, comment, cache_policy)
    return aws.client("cloudfront").create_distribution(DistributionConfig=config)["Distribution"]["Id"]


def point_distribution(aws, distribution_id: str, bucket: str) -> None:
    """Moves a distribution's S3 origin to `bucket`, keeping its origin path:
    what a user does after the stack made the bucket (UpdateDistribution)."""
    cloudfront = aws.client("cloudfront")
    got = cloudfront.get_distribution_config(Id=distribution_id)
    config = got["DistributionConfig"]
    config["Origins"]["Items"][0]["DomainName"] = f"{bucket}.s3.us-east-1.amazonaws.com"
    cloudfront.update_distribution(Id=distribution_id, IfMatch=got["ETag"], DistributionConfig=config)


@dataclass(frozen=True)
class Origin:
    """What a distribution serves, as its configuration in CloudFront says."""

    distribution_id: str
    bucket: str
    origin_path: str  # "" or "/static"
    default_root_object: str
    # The default behavior's cache key holds query strings: its managed cache
    # policy's settings as the guide gives them (local_aws's table), or the
    # legacy ForwardedValues.
    query_strings: bool = False


def origin_of(aws, distribution_id: str) -> Origin:
    from local_aws import MANAGED_CACHE_POLICIES

    config = aws.client("cloudfront").get_distribution_config(Id=distribution_id)["DistributionConfig"]
    (origin,) = config["Origins"]["Items"]
    domain = origin["DomainName"]
    bucket = domain.split(".s3.", 1)[0]
    behavior = config["DefaultCacheBehavior"]
    policy = behavior.get("CachePolicyId")
    if policy:
        query_strings = MANAGED_CACHE_POLICIES[policy][1] != "none"
    else:
        query_strings = bool(behavior.get("ForwardedValues", {}).get("QueryString"))
    root = config.get("DefaultRootObject") or ""
    return Origin(distribution_id, bucket, origin.get("OriginPath") or "", root, query_strings)
