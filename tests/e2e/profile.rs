//! The function run as a developer runs it against an account, with nothing
//! but `AWS_PROFILE`: its region, credentials and endpoint all come from the
//! profile (aws-config's providers, src/sdk.rs), here a local AWS's.

use super::output_json;
use super::support::setup::Setup;
use super::support::{Payload, event_path, scratch_dir};

#[tokio::test]
async fn a_named_profile_alone_reaches_cloudfront() {
    let mut stack = Setup::new().distributions(1).start_without_function().await;
    let [distribution] = stack.ids();
    // The profile files where every SDK looks for them: ~/.aws.
    let home = scratch_dir().join(format!("home-{}", stack.runtime_port));
    std::fs::create_dir_all(home.join(".aws")).unwrap();
    std::fs::write(
        home.join(".aws/config"),
        format!(
            "[profile local-aws]\nregion = eu-west-1\nendpoint_url = http://127.0.0.1:{}\n",
            stack.moto_port
        ),
    )
    .unwrap();
    std::fs::write(
        home.join(".aws/credentials"),
        "[local-aws]\naws_access_key_id = profilekey\naws_secret_access_key = profilesecret\n",
    )
    .unwrap();
    stack.start_function_with_only(&[
        ("HOME", home.to_str().unwrap()),
        ("AWS_PROFILE", "local-aws"),
        ("DISTRIBUTION_IDS", &distribution),
    ]);
    let response = output_json(&stack.invoke(Payload::File(&event_path("s3-put.json"))));
    assert_eq!(
        response["invalidations"][0]["distribution"],
        distribution.as_str(),
        "{response}"
    );
    assert_eq!(
        stack.all_invalidations(&distribution).await,
        [["/css/site.css"]],
        "{}",
        stack.function_log()
    );
    let _ = std::fs::remove_dir_all(home);
}
