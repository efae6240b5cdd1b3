#!/usr/bin/env bash
# Replays what a deployed stack's dead-letter queue holds, so that every change
# parked there is invalidated after all (`make redrive STACK=name`). Fix the
# cause first: each message's error (or the function's log) says what it was.
#
# - Queue wirings: SQS's message move task moves every message back to the
#   changes queue, where the function takes it in its next batch. Messages there
#   are S3 or EventBridge events as they arrived, or Lambda's on-failure records
#   of asynchronous invocations: the function reads them all.
# - bucket-to-function: the messages are Lambda's on-failure records, each with
#   the event that failed. Each is handed to the function synchronously, and
#   deleted once the function succeeds; a failing one stays for the next try.
#
# A change replayed twice is not billed twice: its request carries the same
# caller reference, and CloudFront answers with the invalidation it has.
#
# Needs the AWS CLI (v1 or v2) with credentials for the stack's account and
# region. AWS_ENDPOINT_URL and friends are honoured (the tests use local stand-ins).
set -euo pipefail

fail() {
    echo "error: $*" >&2
    exit 1
}

stack=${1:?usage: tools/redrive.sh STACK_NAME}
command -v aws >/dev/null || fail "the AWS CLI is needed (https://aws.amazon.com/cli/, or pip install awscli)"

# AWS CLI v1 sends SQS requests to its own endpoint for the region even when
# AWS_ENDPOINT_URL or AWS_ENDPOINT_URL_SQS is set (aws/aws-cli#8737): the
# endpoint they name is passed on explicitly.
sqs_endpoint=()
case ${AWS_IGNORE_CONFIGURED_ENDPOINT_URLS:-} in
[Tt][Rr][Uu][Ee]) ;;
*)
    endpoint=${AWS_ENDPOINT_URL_SQS:-${AWS_ENDPOINT_URL:-}}
    [[ -z $endpoint ]] || sqs_endpoint=(--endpoint-url "$endpoint")
    ;;
esac
sqs() {
    aws sqs ${sqs_endpoint[@]+"${sqs_endpoint[@]}"} "$@"
}
attribute() {
    sqs get-queue-attributes --queue-url "$1" --attribute-names "$2" --query "Attributes.$2" --output text
}

outputs=$(aws cloudformation describe-stacks --stack-name "$stack" \
    --query 'Stacks[0].Outputs[].[OutputKey,OutputValue]' --output text) ||
    fail "could not read stack $stack (its name, and credentials and region of its account?)"
dlq_url='' queue_url='' function_arn=''
while IFS=$'\t' read -r key value; do
    case $key in
    DeadLetterQueueUrl) dlq_url=$value ;;
    QueueUrl) queue_url=$value ;;
    FunctionArn) function_arn=$value ;;
    esac
done <<<"$outputs"
[[ -n $dlq_url && -n $function_arn ]] ||
    fail "stack $stack has no DeadLetterQueueUrl or FunctionArn output: is it this project's stack?"

counts=$(sqs get-queue-attributes --queue-url "$dlq_url" \
    --attribute-names ApproximateNumberOfMessages ApproximateNumberOfMessagesNotVisible \
    --query 'Attributes.[ApproximateNumberOfMessages,ApproximateNumberOfMessagesNotVisible]' --output text) ||
    fail "could not read the dead-letter queue $dlq_url"
read -r waiting held <<<"$counts"
echo "dead-letter queue of $stack: $waiting message(s)"
if [[ $held != 0 ]]; then
    echo "and $held more held by another reader (a console poll, another run): run this again once they are visible"
fi
[[ $waiting != 0 ]] || exit 0

if [[ -n $queue_url ]]; then
    dlq_arn=$(attribute "$dlq_url" QueueArn)
    task=$(sqs start-message-move-task --source-arn "$dlq_arn" \
        --destination-arn "$(attribute "$queue_url" QueueArn)" --query TaskHandle --output text)
    echo "moving them back to the changes queue (task $task)"
    while true; do
        latest=$(sqs list-message-move-tasks --source-arn "$dlq_arn" --max-results 1 \
            --query 'Results[0].[Status,ApproximateNumberOfMessagesMoved,FailureReason]' --output text)
        IFS=$'\t' read -r status moved reason <<<"$latest"
        case $status in
        COMPLETED)
            echo "moved $moved message(s); the function takes them in its next batches"
            exit 0
            ;;
        FAILED | CANCELLED)
            fail "the move task ended $status ($reason) after moving $moved message(s)"
            ;;
        esac
        sleep 2
    done
fi

# bucket-to-function. A message taken stays invisible for 15 minutes, so that
# one that fails is not taken again in this run; at the end (or on an error)
# the failed ones are made visible again, for a run right after the next fix.
replayed=0
failed=()
payload='' result=''
release() {
    rm -f "$payload" "$result"
    for handle in ${failed[@]+"${failed[@]}"}; do
        sqs change-message-visibility --queue-url "$dlq_url" --receipt-handle "$handle" \
            --visibility-timeout 0 || echo "warning: a failed message stays invisible for 15 minutes" >&2
    done
}
trap release EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
payload=$(mktemp)
result=$(mktemp)
empty=0
while true; do
    # Long polling (any wait) asks every SQS server, where a short poll asks a
    # few and can answer nothing while a small queue holds messages.
    message=$(sqs receive-message --queue-url "$dlq_url" --max-number-of-messages 1 \
        --wait-time-seconds 1 --visibility-timeout 900 --query 'Messages[0].[ReceiptHandle,Body]' --output text)
    if [[ -z $message || $message == None ]]; then
        # Done when the queue says so too; a few more tries for a message that
        # turned visible meanwhile (the count is approximate).
        left=$(attribute "$dlq_url" ApproximateNumberOfMessages)
        [[ $left != 0 ]] || break
        empty=$((empty + 1))
        if ((empty >= 5)); then
            echo "warning: the queue reports $left message(s) that no receive returned; run this again" >&2
            break
        fi
        continue
    fi
    handle=${message%%$'\t'*}
    printf '%s' "${message#*$'\t'}" >"$payload"
    # The AWS CLI gives up reading an answer after 60 s, and the function may
    # run for minutes (its timeout): 960 s outlasts any function's.
    if ! error=$(aws lambda invoke --cli-read-timeout 960 --function-name "$function_arn" --payload "fileb://$payload" \
        --query FunctionError --output text "$result"); then
        failed+=("$handle")
        fail "could not invoke $function_arn (see above); the message stays in the queue"
    fi
    if [[ -z $error || $error == None ]]; then
        sqs delete-message --queue-url "$dlq_url" --receipt-handle "$handle"
        replayed=$((replayed + 1))
    else
        failed+=("$handle")
        echo "still failing ($error): $(head -c 400 "$result")" >&2
    fi
done
echo "replayed $replayed message(s) through the function; ${#failed[@]} still failing (left in the queue)"
[[ ${#failed[@]} == 0 ]]
