//! ListDistributions, for `DISTRIBUTION_IDS=auto` (see `discovery`).

use super::within;
use crate::clock::Deadline;
use crate::config::DistributionId;
use crate::discovery::DistributionOrigins;
use crate::sdk::AwsError;
use aws_sdk_cloudfront::Client;
use std::time::Duration;

/// A listing may take this long at most, all its pages together.
const LIST_TIMEOUT: Duration = Duration::from_secs(30);

/// Every distribution of the account with its origins, following the pages.
pub async fn list_distributions(
    client: &Client,
    deadline: Deadline,
) -> Result<Vec<DistributionOrigins>, AwsError> {
    const OPERATION: &str = "ListDistributions";
    let mut all = Vec::new();
    let mut marker: Option<String> = None;
    loop {
        let time = deadline
            .for_call(LIST_TIMEOUT)
            .ok_or_else(|| AwsError::no_time(OPERATION, "of the account"))?;
        let page = client
            .list_distributions()
            .set_marker(marker.take())
            .customize()
            .config_override(within(time))
            .send()
            .await
            .map_err(|e| AwsError::new(OPERATION, "of the account", e))?;
        let Some(list) = page.distribution_list() else {
            break;
        };
        for summary in list.items() {
            let Ok(id) = DistributionId::parse(summary.id()) else {
                continue;
            };
            let origins = summary
                .origins()
                .map(|o| {
                    o.items()
                        .iter()
                        .map(|o| {
                            (
                                o.domain_name().to_owned(),
                                o.origin_path().unwrap_or("").to_owned(),
                            )
                        })
                        .collect()
                })
                .unwrap_or_default();
            all.push(DistributionOrigins { id, origins });
        }
        match list.next_marker() {
            Some(next) if list.is_truncated() && !next.is_empty() => marker = Some(next.to_owned()),
            _ => break,
        }
    }
    Ok(all)
}
