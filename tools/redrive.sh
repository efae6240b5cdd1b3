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

stack=${1:?usage: tools/redrive.sh STACK_NAME}
command -v aws >/dev/null || {
    echo "error: the AWS CLI is needed (https://aws.amazon.com/cli/, or pip install awscli)" >&2
    exit 1
}

output() {
    aws cloudformation describe-stacks --stack-name "$stack" \
        --query "Stacks[0].Outputs[?OutputKey=='$1'].OutputValue | [0]" --output text
}
attribute() {
    aws sqs get-queue-attributes --queue-url "$1" --attribute-names "$2" \
        --query "Attributes.$2" --output text
}

dlq_url=$(output DeadLetterQueueUrl)
queue_url=$(output QueueUrl)
function_arn=$(output FunctionArn)
if [[ -z $dlq_url || $dlq_url == None ]]; then
    echo "error: stack $stack has no DeadLetterQueueUrl output: is it this project's stack?" >&2
    exit 1
fi
waiting=$(attribute "$dlq_url" ApproximateNumberOfMessages)
echo "dead-letter queue of $stack: $waiting message(s)"
[[ $waiting != 0 ]] || exit 0

if [[ -n $queue_url && $queue_url != None ]]; then
    dlq_arn=$(attribute "$dlq_url" QueueArn)
    task=$(aws sqs start-message-move-task --source-arn "$dlq_arn" \
        --destination-arn "$(attribute "$queue_url" QueueArn)" --query TaskHandle --output text)
    echo "moving them back to the changes queue (task $task)"
    while true; do
        read -r status moved < <(aws sqs list-message-move-tasks --source-arn "$dlq_arn" --max-results 1 \
            --query 'Results[0].[Status,ApproximateNumberOfMessagesMoved]' --output text)
        case $status in
        COMPLETED)
            echo "moved $moved message(s); the function takes them in its next batches"
            exit 0
            ;;
        FAILED | CANCELLED)
            echo "error: the move task ended $status; see aws sqs list-message-move-tasks --source-arn $dlq_arn" >&2
            exit 1
            ;;
        esac
        sleep 2
    done
fi

# bucket-to-function. Each message stays invisible for 15 minutes while it is
# replayed, so a failing one is not taken twice in this run.
replayed=0 failed=0
payload=$(mktemp)
result=$(mktemp)
trap 'rm -f "$payload" "$result"' EXIT
while true; do
    message=$(aws sqs receive-message --queue-url "$dlq_url" --max-number-of-messages 1 \
        --visibility-timeout 900 --query 'Messages[0].[ReceiptHandle,Body]' --output text)
    [[ -n $message && $message != None ]] || break
    handle=${message%%$'\t'*}
    printf '%s' "${message#*$'\t'}" >"$payload"
    error=$(aws lambda invoke --function-name "$function_arn" --payload "fileb://$payload" \
        --query FunctionError --output text "$result")
    if [[ -z $error || $error == None ]]; then
        aws sqs delete-message --queue-url "$dlq_url" --receipt-handle "$handle"
        replayed=$((replayed + 1))
    else
        failed=$((failed + 1))
        echo "still failing ($error): $(head -c 400 "$result")" >&2
    fi
done
echo "replayed $replayed message(s) through the function; $failed still failing (left in the queue)"
[[ $failed == 0 ]]
