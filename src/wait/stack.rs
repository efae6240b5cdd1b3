//! The stack `wait` watches, from CloudFormation (DescribeStacks): its
//! queues from the outputs, and from the parameters the wiring, the
//! distributions (listed, or `auto` with the bucket to find them by) and
//! whether it invalidates at all (DryRun).

use aws_sdk_cloudformation::error::ProvideErrorMetadata;
use cloudfront_invalidator::config::DistributionId;
use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Distributions {
    Listed(Vec<DistributionId>),
    /// `auto`: the account's distributions with an S3 origin on this bucket.
    Auto {
        bucket: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stack {
    pub name: String,
    pub wiring: String,
    /// The changes queue (`QueueUrl`); `None` in bucket-to-function.
    pub queue_url: Option<String>,
    pub dead_letter_url: String,
    pub distributions: Distributions,
}

/// Reads stack `name`; `Err` is the one line to print.
pub async fn describe(client: &aws_sdk_cloudformation::Client, name: &str) -> Result<Stack, String> {
    let answer = client.describe_stacks().stack_name(name).send().await;
    let described = match answer {
        Ok(out) => out.stacks().first().cloned(),
        // CloudFormation answers a missing stack with ValidationError
        // "Stack with id NAME does not exist".
        Err(e)
            if e.as_service_error()
                .and_then(|s| s.message())
                .is_some_and(|m| m.contains("does not exist")) =>
        {
            None
        }
        Err(e) => {
            return Err(format!(
                "cannot read stack {name:?} (DescribeStacks): {}",
                aws_sdk_cloudformation::error::DisplayErrorContext(e)
            ));
        }
    };
    let region = client.config().region().map_or("?".into(), |r| r.to_string());
    let described = described.ok_or_else(|| {
        format!(
            "no stack named {name:?} in {region}: check --stack, and the account and region the \
             credentials reach (AWS_PROFILE, AWS_REGION)"
        )
    })?;
    let outputs: BTreeMap<&str, &str> = described
        .outputs()
        .iter()
        .filter_map(|o| Some((o.output_key()?, o.output_value()?)))
        .collect();
    let parameters: BTreeMap<&str, &str> = described
        .parameters()
        .iter()
        .filter_map(|p| Some((p.parameter_key()?, p.parameter_value().unwrap_or_default())))
        .collect();
    from_parts(name, &outputs, &parameters)
}

/// The stack from its outputs and parameters (by name).
pub fn from_parts(
    name: &str,
    outputs: &BTreeMap<&str, &str>,
    parameters: &BTreeMap<&str, &str>,
) -> Result<Stack, String> {
    let dead_letter_url = outputs.get("DeadLetterQueueUrl").ok_or_else(|| {
        format!(
            "stack {name:?} has no DeadLetterQueueUrl output: is it a cloudfront-invalidator stack, \
             completely created? (outputs: {})",
            outputs.keys().copied().collect::<Vec<_>>().join(", ")
        )
    })?;
    if parameters
        .get("DryRun")
        .is_some_and(|v| v.eq_ignore_ascii_case("true"))
    {
        return Err(format!(
            "stack {name:?} runs with DryRun=true: it invalidates nothing, so nothing will be fresh"
        ));
    }
    let wiring = parameters
        .get("Wiring")
        .copied()
        .unwrap_or("bucket-to-function")
        .to_owned();
    let queue_url = outputs.get("QueueUrl").map(|u| u.to_string());
    if wiring != "bucket-to-function" && queue_url.is_none() {
        return Err(format!("stack {name:?} (Wiring {wiring}) has no QueueUrl output"));
    }
    // ID or ID=/origin/path, comma-separated, or auto (the template's
    // parameter). moto's CloudFormation gives a list parameter back as Python
    // writes a list (['E1ABC', 'E2DEF=/static']); no item has a bracket or a
    // quote at either end.
    let items: Vec<&str> = parameters
        .get("DistributionIds")
        .copied()
        .unwrap_or_default()
        .split(',')
        .map(|item| item.trim_matches(|c: char| c.is_whitespace() || "[]'\"".contains(c)))
        .filter(|item| !item.is_empty())
        .collect();
    let distributions = if items.iter().any(|item| item.eq_ignore_ascii_case("auto")) {
        let bucket = outputs
            .get("BucketName")
            .or_else(|| parameters.get("ExistingBucketName"))
            .filter(|b| !b.is_empty())
            .ok_or_else(|| format!("stack {name:?} has DistributionIds auto but names no bucket"))?;
        Distributions::Auto {
            bucket: bucket.to_string(),
        }
    } else {
        let listed = items
            .iter()
            .map(|item| item.split('=').next().unwrap_or_default())
            .map(|id| DistributionId::parse(id).map_err(|e| format!("stack {name:?}: DistributionIds: {e}")))
            .collect::<Result<Vec<_>, _>>()?;
        if listed.is_empty() {
            return Err(format!("stack {name:?} lists no distribution (DistributionIds)"));
        }
        Distributions::Listed(listed)
    };
    Ok(Stack {
        name: name.to_owned(),
        wiring,
        queue_url,
        dead_letter_url: dead_letter_url.to_string(),
        distributions,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map<'a>(pairs: &[(&'a str, &'a str)]) -> BTreeMap<&'a str, &'a str> {
        pairs.iter().copied().collect()
    }

    const DLQ: (&str, &str) = ("DeadLetterQueueUrl", "https://sqs/dlq");

    #[test]
    fn each_wiring_and_both_kinds_of_distribution_list() {
        let queue = map(&[DLQ, ("QueueUrl", "https://sqs/changes"), ("BucketName", "site")]);
        let stack = from_parts(
            "s",
            &queue,
            &map(&[
                ("Wiring", "bucket-to-queue"),
                ("DistributionIds", "E1ABC,E2DEF=/static"),
            ]),
        )
        .unwrap();
        assert_eq!(stack.queue_url.as_deref(), Some("https://sqs/changes"));
        let ids = |s: &Stack| match &s.distributions {
            Distributions::Listed(ids) => ids.iter().map(|d| d.as_str().to_owned()).collect::<Vec<_>>(),
            other => panic!("{other:?}"),
        };
        assert_eq!(ids(&stack), ["E1ABC", "E2DEF"]);
        let moto = map(&[
            ("Wiring", "bucket-to-queue"),
            ("DistributionIds", "['E1ABC', 'E2DEF=/static']"),
        ]);
        assert_eq!(ids(&from_parts("s", &queue, &moto).unwrap()), ["E1ABC", "E2DEF"]);
        let auto = from_parts(
            "s",
            &map(&[DLQ]),
            &map(&[("Wiring", "bucket-to-function"), ("DistributionIds", "auto")]),
        );
        assert!(auto.unwrap_err().contains("names no bucket"));
        let existing = from_parts(
            "s",
            &map(&[DLQ, ("QueueUrl", "https://sqs/changes")]),
            &map(&[
                ("Wiring", "existing-bucket"),
                ("DistributionIds", "auto"),
                ("ExistingBucketName", "mine"),
            ]),
        )
        .unwrap();
        assert_eq!(
            existing.distributions,
            Distributions::Auto {
                bucket: "mine".into()
            }
        );
        let direct = from_parts(
            "s",
            &map(&[DLQ, ("BucketName", "b")]),
            &map(&[("DistributionIds", "E1ABC")]),
        )
        .unwrap();
        assert_eq!(
            (direct.wiring.as_str(), direct.queue_url),
            ("bucket-to-function", None)
        );
    }

    #[test]
    fn a_stack_that_cannot_be_waited_for_says_why() {
        assert!(
            from_parts("s", &map(&[]), &map(&[]))
                .unwrap_err()
                .contains("no DeadLetterQueueUrl output")
        );
        let dry = from_parts(
            "s",
            &map(&[DLQ]),
            &map(&[("DryRun", "true"), ("DistributionIds", "E1")]),
        );
        assert!(dry.unwrap_err().contains("DryRun=true"));
        let queue = from_parts(
            "s",
            &map(&[DLQ]),
            &map(&[("Wiring", "bucket-to-queue"), ("DistributionIds", "E1")]),
        );
        assert!(queue.unwrap_err().contains("no QueueUrl output"));
    }
}
