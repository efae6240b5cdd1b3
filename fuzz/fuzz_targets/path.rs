//! A raw key as S3 might send it: `decode_key` then `for_key` never panic, and
//! every path keeps CloudFront's rules (invariants.rs), decodes back to the key
//! and survives S3's own encoding.
#![no_main]

use cloudfront_invalidator::path::{InvalidationPath, decode_key};
use libfuzzer_sys::fuzz_target;

#[path = "../invariants.rs"]
mod invariants;
use invariants::{S3_MAX_KEY_BYTES, check_path, form_encode};

fuzz_target!(|data: &[u8]| {
    let Ok(raw) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(key) = decode_key(raw) else {
        return;
    };
    assert!(!key.is_empty(), "decode_key({raw:?}) gave an empty key");
    // S3 keys are at most 1,024 bytes; for_key is not defined past that (it
    // debug-asserts the path fits CloudFront's limit).
    if key.len() > S3_MAX_KEY_BYTES {
        return;
    }
    if let Err(e) = check_path(&key, &InvalidationPath::for_key(&key)) {
        panic!("raw key {raw:?}: {e}");
    }
    // Long keys are rare among mutated inputs: for one input in 16 (chosen by
    // length, so that a crash replays), also check the key repeated up to S3's
    // limit, where paths are longest. Every input would cost 4x the speed.
    if data.len().is_multiple_of(16) {
        let long: String = key
            .chars()
            .cycle()
            .scan(0, |bytes, c| {
                *bytes += c.len_utf8();
                (*bytes <= S3_MAX_KEY_BYTES).then_some(c)
            })
            .collect();
        if let Err(e) = check_path(&long, &InvalidationPath::for_key(&long)) {
            panic!("raw key {raw:?} repeated: {e}");
        }
    }
    let encoded = form_encode(&key);
    assert_eq!(
        decode_key(&encoded).as_ref(),
        Ok(&key),
        "S3-encoded as {encoded:?}"
    );
});
