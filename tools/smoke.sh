#!/usr/bin/env bash
# A smoke test of a deployed stack, in its real account (`make smoke
# STACK=name`, or `bash smoke.sh name` from dist/): does a change to the bucket
# reach viewers through the distribution?
#
# It uploads a probe object to the stack's bucket, reads it through the
# distribution (so an edge caches it), changes it, waits until the function's
# invalidation of its path is Completed, reads it again and compares, and
# removes the probe. One line of result: exit 0 when viewers got the change,
# 1 with the reason otherwise (a read refused, no invalidation, the old
# content still served).
#
#   smoke.sh STACK [DISTRIBUTION_ID]
#
# The distribution: the one given, or the stack's first (with DistributionIds
# auto, the first of the account whose S3 origin is the bucket).
# SMOKE_PREFIX    where the probe goes under the distribution's origin path
#                 (default: at its top); give one the stack's Include lets
#                 through (e.g. static/)
# SMOKE_TIMEOUT   seconds to wait for the invalidation to complete (1200)
# SMOKE_BASE_URL  where viewers read (default https://<the distribution's
#                 domain>): a custom domain, or a stand-in
#
# Needs bash, curl and the AWS CLI (v1 or v2), with credentials for the
# stack's account and its region (the profile's, AWS_REGION or
# AWS_DEFAULT_REGION: nothing here picks one). The probe's three changes
# (two uploads, the removal) cost at most three invalidation paths.
set -euo pipefail

result() {
    echo "smoke: $*"
}
fail() {
    result "FAILED: $*"
    exit 1
}

stack=${1:?usage: smoke.sh STACK [DISTRIBUTION_ID]}
distribution=${2:-}
timeout=${SMOKE_TIMEOUT:-1200}
prefix=${SMOKE_PREFIX:-}
prefix=${prefix#/}
[[ -z $prefix || $prefix == */ ]] || prefix="$prefix/"
for tool in aws curl; do
    command -v "$tool" >/dev/null || fail "$tool is needed (the AWS CLI: https://aws.amazon.com/cli/)"
done

# AWS CLI v1 sends SQS and S3 requests to its own endpoints for the region even
# when AWS_ENDPOINT_URL is set (aws/aws-cli#8737); the one it names is passed
# on explicitly, as in redrive.sh.
endpoint=()
case ${AWS_IGNORE_CONFIGURED_ENDPOINT_URLS:-} in
[Tt][Rr][Uu][Ee]) ;;
*) [[ -z ${AWS_ENDPOINT_URL:-} ]] || endpoint=(--endpoint-url "$AWS_ENDPOINT_URL") ;;
esac
s3api() {
    aws s3api ${endpoint[@]+"${endpoint[@]}"} "$@"
}

outputs=$(aws cloudformation describe-stacks --stack-name "$stack" \
    --query 'Stacks[0].Outputs[].[OutputKey,OutputValue]' --output text 2>&1) ||
    fail "could not read stack $stack (its name, and the credentials and region of its account?): ${outputs##*$'\n'}"
bucket='' function_arn=''
while IFS=$'\t' read -r key value; do
    case $key in
    BucketName) bucket=$value ;;
    FunctionArn) function_arn=$value ;;
    esac
done <<<"$outputs"
[[ -n $bucket && -n $function_arn ]] ||
    fail "stack $stack has no BucketName or FunctionArn output: is it this project's stack?"

config=$(aws lambda get-function-configuration --function-name "$function_arn" \
    --query 'Environment.Variables.[DISTRIBUTION_IDS,DRY_RUN]' --output text) ||
    fail "could not read the configuration of $function_arn"
IFS=$'\t' read -r ids dry_run <<<"$config"
[[ ${dry_run,,} != true ]] || fail "the function runs with DryRun true: it creates no invalidation"
if [[ -z $distribution ]]; then
    if [[ ${ids,,} == auto ]]; then
        distribution=$(aws cloudfront list-distributions --output text --query \
            "DistributionList.Items[?Origins.Items[?starts_with(DomainName, '$bucket.s3')]].Id | [0]")
        [[ -n $distribution && $distribution != None ]] ||
            fail "no distribution of this account has an S3 origin on $bucket"
    else
        distribution=${ids%%,*}
        distribution=${distribution%%=*}
    fi
fi

IFS=$'\t' read -r domain origin_path < <(aws cloudfront get-distribution --id "$distribution" --output text \
    --query "Distribution.[DomainName, DistributionConfig.Origins.Items[?starts_with(DomainName, '$bucket.s3')].OriginPath | [0]]") ||
    fail "could not read distribution $distribution"
[[ $origin_path != None ]] || fail "distribution $distribution has no S3 origin on $bucket"
origin_path=${origin_path#/}
[[ -z $origin_path ]] || origin_path="$origin_path/"
base=${SMOKE_BASE_URL:-https://$domain}
probe="${prefix}cloudfront-invalidator-smoke-$(date -u +%Y%m%dT%H%M%S)-$RANDOM.txt"
key="$origin_path$probe"
path="/$probe"
url="$base$path"

scratch=$(mktemp -d)
placed=''
cleanup() {
    if [[ -n $placed ]]; then
        s3api delete-object --bucket "$bucket" --key "$key" >/dev/null ||
            echo "warning: the probe s3://$bucket/$key is still there: remove it" >&2
    fi
    rm -rf "$scratch"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Uploads one version of the probe.
upload() {
    printf 'cloudfront-invalidator smoke test, version %s of %s\n' "$1" "$probe" >"$scratch/v$1"
    s3api put-object --bucket "$bucket" --key "$key" --body "$scratch/v$1" --content-type text/plain \
        --cache-control max-age=86400 >/dev/null
    placed=yes
}
# Reads the probe as a viewer does; fails unless it got version $1.
read_back() {
    local status
    status=$(curl -sS -o "$scratch/got" -w '%{http_code}' "$url") || fail "could not reach $url"
    case $status in
    200) ;;
    403) fail "$url answered 403: the distribution cannot read the bucket (an origin access control, not a legacy OAI, and the stack's bucket policy; see docs/deploy.md) or the object is missing" ;;
    *) fail "$url answered $status" ;;
    esac
    if ! cmp -s "$scratch/got" "$scratch/v$1"; then
        if cmp -s "$scratch/got" "$scratch/v1"; then
            fail "$url still served the old content after invalidation $invalidation was Completed"
        fi
        fail "$url served something else than version $1: $(head -c 200 "$scratch/got")"
    fi
}
# The time part of an AWS timestamp, for comparing UTC times as text.
seconds_part() {
    printf '%s' "${1:0:19}"
}

invalidation=''
upload 1
read_back 1
upload 2
started=$SECONDS
# S3's time for the change, from a listing: ISO 8601 in every version of the
# AWS CLI (a HEAD's header is RFC 1123 text in version 1).
changed=$(s3api list-objects-v2 --bucket "$bucket" --prefix "$key" --max-items 1 \
    --query 'Contents[0].LastModified' --output text)

# The function's invalidation: one of the distribution's, created at or
# after S3's time for the change, whose paths cover the probe's (exactly, or
# a wildcard over it). It comes a minute or two after the change.
examined=" "
wait=0
while [[ -z $invalidation ]]; do
    ((SECONDS - started < timeout)) ||
        fail "no invalidation of $path in $distribution within $timeout s of the change: is the stack's wiring delivering events (its alarms, its log)?"
    listed=$(aws cloudfront list-invalidations --distribution-id "$distribution" --max-items 50 \
        --query 'InvalidationList.Items[].[Id,CreateTime]' --output text)
    while IFS=$'\t' read -r id created; do
        [[ -n $id && $id != None && $examined != *" $id "* ]] || continue
        [[ ! $(seconds_part "$created") < $(seconds_part "$changed") ]] || continue
        examined+="$id "
        paths=$(aws cloudfront get-invalidation --distribution-id "$distribution" --id "$id" \
            --query 'Invalidation.InvalidationBatch.Paths.Items' --output text)
        read -ra covers <<<"${paths//$'\n'/$'\t'}"
        for covering in ${covers[@]+"${covers[@]}"}; do
            if [[ $covering == "$path" || ($covering == *'*' && $path == "${covering%'*'}"*) ]]; then
                invalidation=$id
                break 2
            fi
        done
    done <<<"$listed"
    # Asking is free: every second at first, then every 5.
    ((wait < 5)) && wait=$((wait + 1))
    [[ -n $invalidation ]] || sleep "$wait"
done
while true; do
    status=$(aws cloudfront get-invalidation --distribution-id "$distribution" --id "$invalidation" \
        --query Invalidation.Status --output text)
    [[ ${status,,} != completed ]] || break
    ((SECONDS - started < timeout)) || fail "invalidation $invalidation of $path still $status after $timeout s"
    sleep 5
done

read_back 2
result "OK: $url served the change $((SECONDS - started)) s after it (invalidation $invalidation of $distribution, Completed)"
