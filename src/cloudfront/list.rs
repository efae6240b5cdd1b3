//! ListDistributions, for `DISTRIBUTION_IDS=auto` (see `discovery`): each
//! distribution's origins, origin groups and cache behaviors, as its summary
//! gives them.

use super::setup::setup_of;
use super::within;
use crate::clock::Deadline;
use crate::config::DistributionId;
use crate::distribution::Setup;
use crate::sdk::AwsError;
use aws_sdk_cloudfront::Client;
use std::time::Duration;

/// A listing may take this long at most, all its pages together.
const LIST_TIMEOUT: Duration = Duration::from_secs(30);

/// Every distribution of the account, following the pages.
pub async fn list_distributions(client: &Client, deadline: Deadline) -> Result<Vec<Setup>, AwsError> {
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
            all.push(setup_of(
                id,
                summary.origins(),
                summary.origin_groups(),
                summary.default_cache_behavior(),
                summary.cache_behaviors(),
            ));
        }
        match list.next_marker() {
            Some(next) if list.is_truncated() && !next.is_empty() => marker = Some(next.to_owned()),
            _ => break,
        }
    }
    Ok(all)
}
