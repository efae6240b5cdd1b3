"""A local AWS in this process: moto's server, with eight small patches.

moto 5.2.5 answers CloudFormation, S3, SQS, EventBridge, Lambda (the
function's configuration), IAM and CloudFront from one server, which is all
the stack tests and `make demo` deploy into. It cannot run a function without
Docker, so the tests play the Lambda service themselves (tests/stack/player.py)
with the built binary; the patches below only keep moto from trying, and fix
one place where moto's CloudFormation reads a template differently from AWS,
and stand in for SQS's dead-letter queue redrive, which moto lacks. None of
them changes an event moto produces.

Run it alone (`python tools/local_aws.py [PORT]`) to try the stack by hand.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
import uuid
from dataclasses import dataclass

from moto.awslambda.models import LambdaBackend
from moto.cloudformation import parsing as cfn_parsing
from moto.cloudfront import urls as cloudfront_urls
from moto.cloudfront.exceptions import CloudFrontException
from moto.cloudfront.responses import CloudFrontResponse
from moto.cloudwatch.models import Dimension, Metric, MetricDataQuery, MetricStat, cloudwatch_backends
from moto.core import utils as moto_utils
from moto.core.common_models import CloudFormationModel
from moto.s3 import notifications as s3_notifications
from moto.core.responses import ActionResult
from moto.s3.models import FakeBucket, s3_backends
from moto.sqs.exceptions import InvalidParameterValue, SQSException
from moto.sqs.responses import SQSResponse
from moto.utilities.utils import get_partition
from moto.server import ThreadedMotoServer

ACCOUNT = "123456789012"
REGION = "us-east-1"
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}


@dataclass(frozen=True)
class AsyncInvocation:
    """What moto's S3 hands the Lambda service for a bucket notification:
    the function's ARN and the event, as the JSON text moto serialised."""

    function_arn: str
    payload: str


# Events S3 sent to a function, in order; the player of asynchronous
# invocations takes them from here.
lambda_invocations: "queue.Queue[AsyncInvocation]" = queue.Queue()


# Patch 1. moto's S3 delivers a Lambda notification by running the function
# (in Docker) synchronously and swallowing any error. Here it is queued
# instead, as the event body moto built, byte for byte, for the player to
# deliver the way Lambda delivers an asynchronous invocation (with retries and
# an on-failure destination). Only the delivery is replaced: moto still
# decides which notification matches and builds the event.
def _capture_lambda_notification(account_id, event_body, fn_arn, region_name):  # noqa: ARG001
    lambda_invocations.put(AsyncInvocation(fn_arn, json.dumps(event_body)))


# Patch 2. When an event source mapping names an SQS queue, moto hooks it on
# the queue, and every SendMessage then makes moto receive a batch at once and
# run the function (in Docker, which fails here, so the batch is made visible
# again with its receive count raised: after five sends the messages would be
# redriven to the dead-letter queue by moto's own poller). The mapping is kept
# as it was created (GetEventSourceMapping reports it unchanged, and that is
# what the player reads); only the hook on the queue is taken off, so the
# queue is consumed by the player alone.
_create_event_source_mapping = LambdaBackend.create_event_source_mapping


def _create_event_source_mapping_without_moto_poller(self, spec):
    esm = _create_event_source_mapping(self, spec)
    from moto.sqs.models import sqs_backends

    for q in sqs_backends[self.account_id][self.region_name].queues.values():
        if q.queue_arn == esm.event_source_arn:
            q.lambda_event_source_mappings.pop(esm.function_arn, None)
    return esm


# Patch 3. CloudFormation drops a list item that renders to AWS::NoValue (the
# template's `- !If [UseQueue, {...}, !Ref AWS::NoValue]` in the function's
# Policies); moto's CloudFormation keeps it as None and then fails to create
# the role ("'NoneType' object is not subscriptable") in bucket-to-function.
# No list item of a CloudFormation template can be null, so dropping None
# items is exactly AWS's rule.
_clean_json = cfn_parsing.clean_json


def _clean_json_dropping_no_value(resource_json, resources_map):
    if isinstance(resource_json, list):
        cleaned = (_clean_json_dropping_no_value(item, resources_map) for item in resource_json)
        return [item for item in cleaned if item is not None]
    return _clean_json(resource_json, resources_map)


# Patch 4. moto's CloudFormation creates an AWS::S3::Bucket with its name,
# encryption and tags only: its NotificationConfiguration is dropped, so the
# stack's bucket would notify nothing. CloudFormation applies it with
# PutBucketNotificationConfiguration; here the property is rewritten from
# CloudFormation's shape (LambdaConfigurations, QueueConfigurations,
# TopicConfigurations, EventBridgeConfiguration) to the API's and given to the
# same backend call the API uses, which also sends S3's test event to queues.
def _api_notification_config(cfn: dict) -> dict:
    config: dict = {}
    for cfn_key, api_key, target in (
        ("LambdaConfigurations", "CloudFunctionConfiguration", "Function"),
        ("QueueConfigurations", "QueueConfiguration", "Queue"),
        ("TopicConfigurations", "TopicConfiguration", "Topic"),
    ):
        for item in cfn.get(cfn_key, []):
            api_target = "CloudFunction" if target == "Function" else target
            entry = {api_target: item[target], "Event": [item["Event"]]}
            rules = item.get("Filter", {}).get("S3Key", {}).get("Rules")
            if rules:
                entry["Filter"] = {"S3Key": {"FilterRule": rules}}
            config.setdefault(api_key, []).append(entry)
    if cfn.get("EventBridgeConfiguration", {}).get("EventBridgeEnabled") in (True, "true"):
        config["EventBridgeConfiguration"] = {}
    return config


_create_bucket_from_cfn = FakeBucket.create_from_cloudformation_json.__func__


def _create_bucket_with_notifications(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
    bucket = _create_bucket_from_cfn(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs)
    cfn = cloudformation_json.get("Properties", {}).get("NotificationConfiguration")
    if cfn:
        backend = s3_backends[account_id][get_partition(region_name)]
        backend.put_bucket_notification_configuration(bucket.name, _api_notification_config(cfn))
    return bucket


# Patch 5, for speed alone. moto's SQS counts a queue's messages on every
# SendMessage, and on ReceiveMessage for every message it returns, asking its
# clock for each message through a datetime computation (about 7 us): with a
# collectstatic's 650 messages waiting, sending them took 10 s and receiving
# them 23 s. Here the clock gives the same value, the seconds since the epoch,
# from time.time(), about ten times faster; an explicit datetime still goes
# through moto's own conversion.
_unix_time = moto_utils.unix_time


def _unix_time_now_fast(dt=None):
    return time.time() if dt is None else _unix_time(dt)


# Patch 6. moto's CloudFormation has no AWS::CloudWatch::Alarm: it skips the
# alarms, and then fails the whole stack where the dashboard's body names
# their ARNs ("Fn::GetAtt references undefined resource DeadLetterAlarm").
# Here an alarm is made by the CloudWatch backend's PutMetricAlarm, the call
# CloudFormation makes, from the resource's properties: one metric, or
# Metrics (metric math), which moto's own PutMetricAlarm takes the same way.
class _CloudFormationAlarm(CloudFormationModel):
    # moto files each model under the service its module names.
    __module__ = "moto.cloudwatch.local_aws"

    def __init__(self, alarm):
        self.alarm = alarm

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::CloudWatch::Alarm"

    @staticmethod
    def cloudformation_name_type() -> str:
        return "AlarmName"

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return attr == "Arn"

    def get_cfn_attribute(self, attribute_name: str) -> str:
        if attribute_name == "Arn":
            return self.alarm.alarm_arn
        raise NotImplementedError(attribute_name)

    @property
    def physical_resource_id(self) -> str:
        return self.alarm.name

    @staticmethod
    def _queries(metrics: list[dict] | None) -> list[MetricDataQuery] | None:
        if not metrics:
            return None
        queries = []
        for m in metrics:
            stat = m.get("MetricStat")
            if stat:
                metric = stat["Metric"]
                dimensions = [Dimension(d["Name"], d["Value"]) for d in metric.get("Dimensions", [])]
                stat = MetricStat(
                    Metric(metric["MetricName"], metric["Namespace"], dimensions),
                    stat["Period"],
                    stat["Stat"],
                    stat.get("Unit"),
                )
            queries.append(
                MetricDataQuery(m["Id"], m.get("Label"), m.get("Period"), m.get("ReturnData"), m.get("Expression"), stat)
            )
        return queries

    @classmethod
    def create_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
        p = cloudformation_json["Properties"]
        alarm = cloudwatch_backends[account_id][region_name].put_metric_alarm(
            name=p.get("AlarmName") or resource_name,
            namespace=p.get("Namespace"),
            metric_name=p.get("MetricName"),
            metric_data_queries=cls._queries(p.get("Metrics")),
            comparison_operator=p["ComparisonOperator"],
            evaluation_periods=int(p["EvaluationPeriods"]),
            period=int(p["Period"]) if "Period" in p else None,
            threshold=float(p["Threshold"]),
            statistic=p.get("Statistic"),
            description=p.get("AlarmDescription"),
            dimensions=p.get("Dimensions", []),
            alarm_actions=p.get("AlarmActions", []),
            ok_actions=p.get("OKActions", []),
            datapoints_to_alarm=int(p["DatapointsToAlarm"]) if "DatapointsToAlarm" in p else None,
            treat_missing_data=p.get("TreatMissingData"),
        )
        return cls(alarm)


# Patch 7. moto 5.2.5's SQS has no StartMessageMoveTask nor
# ListMessageMoveTasks, the API of dead-letter queue redrive that
# tools/redrive.sh uses. Real SQS accepts a task only when the source queue is
# the dead-letter queue of another SQS queue, moves the messages in the
# background, oldest first, each as a new message (new ID and enqueue time,
# the same body), and lists the source's tasks, most recent first: RUNNING,
# then COMPLETED with ApproximateNumberOfMessagesMoved (TaskHandle is listed
# only while RUNNING). The stand-in checks the same rule (InvalidParameterValue
# when it fails), then, before it answers, sends every message of the source
# queue that a receive could take (neither in flight nor delayed) to the
# destination through SendMessage's own backend call, with its body and
# message attributes, deletes it from the source, and records the task as
# COMPLETED. It needs a DestinationArn (without one, SQS sends each message
# back to the queue it came from), reports MaxNumberOfMessagesPerSecond back
# without pacing, and has no CancelMessageMoveTask. Requests and answers have
# the API's shapes: moto parses and serialises them from botocore's model, in
# the JSON protocol the AWS CLI speaks to SQS.
_move_tasks: dict[str, list[dict]] = {}  # source queue ARN -> its tasks, most recent first


def _queue_by_arn(backend, arn: str):
    for q in backend.queues.values():
        if q.queue_arn == arn:
            return q
    raise SQSException("ResourceNotFoundException", f"The resource that you requested couldn't be found: {arn}")


def _start_message_move_task(self) -> ActionResult:
    backend = self.sqs_backend
    source_arn = self._get_param("SourceArn")
    destination_arn = self._get_param("DestinationArn")
    rate = self._get_param("MaxNumberOfMessagesPerSecond")
    source = _queue_by_arn(backend, source_arn)
    if not any(q.dead_letter_queue is source for q in backend.queues.values()):
        raise InvalidParameterValue("Source queue must be configured as a Dead Letter Queue.")
    if not destination_arn:
        raise SQSException("UnsupportedOperation", "the local stand-in needs a DestinationArn")
    destination = _queue_by_arn(backend, destination_arn)
    moving = source.messages
    for message in moving:
        backend.send_message(destination.name, message.body, message_attributes=message.message_attributes)
        with source._messages_lock:
            source._messages.remove(message)
            source.pending_messages.discard(message)
    task = {
        "Status": "COMPLETED",
        "SourceArn": source_arn,
        "DestinationArn": destination_arn,
        "ApproximateNumberOfMessagesMoved": len(moving),
        "ApproximateNumberOfMessagesToMove": len(moving),
        "StartedTimestamp": int(time.time() * 1000),
    }
    if rate is not None:
        task["MaxNumberOfMessagesPerSecond"] = int(rate)
    _move_tasks.setdefault(source_arn, []).insert(0, task)
    return ActionResult({"TaskHandle": str(uuid.uuid4())})


def _list_message_move_tasks(self) -> ActionResult:
    source_arn = self._get_param("SourceArn")
    _queue_by_arn(self.sqs_backend, source_arn)
    most = int(self._get_param("MaxResults") or 1)
    if not 1 <= most <= 10:
        raise InvalidParameterValue("Value for parameter MaxResults is invalid. Reason: must be between 1 and 10.")
    return ActionResult({"Results": _move_tasks.get(source_arn, [])[:most]})


# Patch 8. moto 5.2.5's CloudFront has no cache policies: GetCachePolicy is
# answered for AWS's managed ones, which every account has and a cache
# behavior names by ID (CloudFront Developer Guide, "Use managed cache
# policies"), with the settings the guide gives them; any other ID gets
# CloudFront's NoSuchCachePolicy. Only what the function reads varies: the
# query strings in the cache key.
MANAGED_CACHE_POLICIES = {
    "2e54312d-136d-493c-8eb9-b001f22f67d2": ("Amplify", "all"),
    "4135ea2d-6df8-44a3-9df3-4b5a84be39ad": ("Managed-CachingDisabled", "none"),
    "658327ea-f89d-4fab-a63d-7e88639e58f6": ("Managed-CachingOptimized", "none"),
    "b2884449-e4de-46a7-ac36-70bc7f1ddd6d": ("Managed-CachingOptimizedForUncompressedObjects", "none"),
    "08627262-05a9-4f76-9ded-b50ca2e3a84f": ("Managed-Elemental-MediaPackage", "whitelist"),
    "83da9c7e-98b4-4e11-a168-04f0df8e2c65": ("UseOriginCacheControlHeaders", "none"),
    "4cc15a8a-d715-48a4-82b8-cc0b614638fe": ("UseOriginCacheControlHeaders-QueryStrings", "all"),
}


def _get_cache_policy(self) -> ActionResult:
    policy_id = self._get_param("Id")
    if policy_id not in MANAGED_CACHE_POLICIES:
        raise CloudFrontException("NoSuchCachePolicy", "The cache policy does not exist.")
    name, query_strings = MANAGED_CACHE_POLICIES[policy_id]
    listed = {"Quantity": 0} if query_strings in ("none", "all") else {"Quantity": 1, "Items": ["v"]}
    config = {
        "Comment": "",
        "Name": name,
        "DefaultTTL": 86400,
        "MaxTTL": 31536000,
        "MinTTL": 1,
        "ParametersInCacheKeyAndForwardedToOrigin": {
            "EnableAcceptEncodingGzip": True,
            "EnableAcceptEncodingBrotli": True,
            "HeadersConfig": {"HeaderBehavior": "none"},
            "CookiesConfig": {"CookieBehavior": "none"},
            "QueryStringsConfig": {"QueryStringBehavior": query_strings, "QueryStrings": listed},
        },
    }
    policy = {"Id": policy_id, "LastModifiedTime": "2020-09-01T00:00:00Z", "CachePolicyConfig": config}
    return ActionResult({"CachePolicy": policy, "ETag": "E" + policy_id[:8].upper()})


_patched = False


def _patch() -> None:
    global _patched
    if _patched:
        return
    s3_notifications._invoke_awslambda = _capture_lambda_notification
    LambdaBackend.create_event_source_mapping = _create_event_source_mapping_without_moto_poller
    cfn_parsing.clean_json = _clean_json_dropping_no_value
    FakeBucket.create_from_cloudformation_json = classmethod(_create_bucket_with_notifications)
    moto_utils.unix_time = _unix_time_now_fast
    SQSResponse.start_message_move_task = _start_message_move_task
    SQSResponse.list_message_move_tasks = _list_message_move_tasks
    CloudFrontResponse.get_cache_policy = _get_cache_policy
    cloudfront_urls.url_paths["{0}/2020-05-31/cache-policy/(?P<policy_id>[^/]+)$"] = CloudFrontResponse.dispatch
    # moto finds the types it supports among CloudFormationModel's subclasses, once.
    cfn_parsing.get_model_map.cache_clear()
    cfn_parsing.get_name_type_map.cache_clear()
    # One line per request from werkzeug would bury the test's own output.
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    _patched = True


class LocalAws:
    """moto's server on a free port of 127.0.0.1, in a thread of this process."""

    def __init__(self, port: int = 0):
        _patch()
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
        self._server.start()
        self.port = self._server.get_host_and_port()[1]
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self._lock = threading.Lock()
        self._clients: dict[str, object] = {}

    def client(self, service: str):
        """A boto3 client for `service`, pointed here (one per service, reused)."""
        import boto3

        with self._lock:
            if service not in self._clients:
                self._clients[service] = boto3.client(
                    service,
                    endpoint_url=self.endpoint,
                    region_name=REGION,
                    aws_access_key_id=CREDENTIALS["AWS_ACCESS_KEY_ID"],
                    aws_secret_access_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
                )
            return self._clients[service]

    def environment(self) -> dict[str, str]:
        """What a process needs to use this local AWS with any SDK or the AWS CLI."""
        return {
            **CREDENTIALS,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_REGION": REGION,
            # The generic variable: every service the process calls comes here.
            "AWS_ENDPOINT_URL": self.endpoint,
        }

    def let_delays_pass(self, queue_url: str) -> int:
        """Lets time pass for a queue's delayed messages (SendMessage's
        DelaySeconds): they can be received now. Returns how many. This is a
        clock for one queue, like ChangeMessageVisibility for a received
        message; nothing else of them changes."""
        from moto.sqs.models import sqs_backends

        queue = sqs_backends[ACCOUNT][REGION].queues[queue_url.rsplit("/", 1)[1]]
        delayed = [m for m in queue._messages if m.delayed]
        for message in delayed:
            message.delayed_until = 0
        return len(delayed)

    def stop(self) -> None:
        self._server.stop()


if __name__ == "__main__":
    import sys
    import time

    aws = LocalAws(int(sys.argv[1]) if len(sys.argv) > 1 else 5000)
    print(f"local AWS at {aws.endpoint} (Ctrl-C stops it)", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass  # the server's thread is a daemon: it ends with the process
