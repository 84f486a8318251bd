//! Property tests: for random secrets and random surrounding text, no form of the secret
//! survives redaction, and the exfiltration check finds every form. The encodings are computed
//! here independently of the crate (base64 crate, hex crate, a byte-wise percent-encoder), and
//! the embedded-base64 fragment is derived from the secret's position in the blob.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use cordon_secrets::{Redactor, Secret, SecretName};
use proptest::prelude::*;
use serde_json::json;

const NAME: &str = "PROP_SECRET";
const MARKER: &str = "[REDACTED:PROP_SECRET]";

fn redactor(value: &str) -> Redactor {
    Redactor::new(&[Secret::new(
        SecretName::new(NAME).unwrap(),
        value.to_owned(),
    )])
    .unwrap()
}

/// Percent-encodes every byte outside `A-Za-z0-9-._~`.
fn percent(value: &str, lower: bool) -> String {
    value
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else if lower {
                format!("%{b:02x}")
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn whole_forms(value: &str) -> Vec<String> {
    vec![
        value.to_owned(),
        hex::encode(value),
        hex::encode_upper(value),
        STANDARD.encode(value),
        STANDARD_NO_PAD.encode(value),
        URL_SAFE.encode(value),
        URL_SAFE_NO_PAD.encode(value),
        percent(value, false),
        percent(value, true),
    ]
}

fn secret_strategy() -> impl Strategy<Value = String> {
    prop_oneof!["[A-Za-z0-9_\\-]{8,48}", "[ -~]{8,40}", "\\PC{8,24}",]
        .prop_filter("at least 8 bytes, not part of the marker", |s| {
            s.len() >= 8 && !MARKER.to_lowercase().contains(&s.to_lowercase())
        })
}

fn text_strategy() -> impl Strategy<Value = String> {
    prop_oneof!["[ -~]{0,40}", "\\PC{0,40}", "[A-Za-z0-9+/=]{0,40}"]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn no_whole_form_survives(secret in secret_strategy(), before in text_strategy(), after in text_strategy()) {
        let r = redactor(&secret);
        for form in whole_forms(&secret) {
            let text = format!("{before}{form}{after}");
            let out = r.redact(&text);
            prop_assert!(out.contains(MARKER), "{form:?} in {text:?} -> {out:?}");
            for other in whole_forms(&secret) {
                prop_assert!(!out.contains(&other), "{other:?} survived in {out:?}");
            }
            prop_assert!(r.find(&text).is_some());
            let args = json!({"a": [{"deep": text.clone()}]});
            prop_assert_eq!(r.contains_secret(&args).map(|n| n.to_string()), Some(NAME.to_owned()));
            let redacted = r.redacted_value(&json!({text.clone(): text.clone()})).to_string();
            prop_assert!(!redacted.contains(&form), "{redacted}");
            prop_assert!(!redacted.contains(&secret), "{redacted}");
        }
    }

    #[test]
    fn secret_inside_a_longer_base64_blob_is_caught(
        secret in secret_strategy(),
        prefix in proptest::collection::vec(any::<u8>(), 0..10),
        suffix in proptest::collection::vec(any::<u8>(), 0..10),
        engine in 0usize..4,
    ) {
        let r = redactor(&secret);
        let mut blob = prefix.clone();
        blob.extend_from_slice(secret.as_bytes());
        blob.extend_from_slice(&suffix);
        let engine = &[STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD][engine];
        let encoded = engine.encode(&blob);
        // The characters whose 6 bits all come from the secret's bytes.
        let p = prefix.len();
        let start = (8 * p).div_ceil(6);
        let end = 8 * (p + secret.len()) / 6;
        let fragment = &encoded[start..end];
        let text = format!("Authorization: Basic {encoded}\n");
        let out = r.redact(&text);
        prop_assert!(!out.contains(fragment), "{fragment} survived in {out}");
        prop_assert!(out.contains(MARKER), "{out}");
        prop_assert!(r.find(&text).is_some());
    }

    #[test]
    fn text_without_the_secret_is_unchanged(secret in "[A-Za-z0-9]{12,32}", text in text_strategy()) {
        let r = redactor(&secret);
        let lower = text.to_lowercase();
        prop_assume!(whole_forms(&secret).iter().all(|f| !lower.contains(&f.to_lowercase()[..8])));
        let out = r.redact(&text).into_owned();
        prop_assert_eq!(out, text.clone());
        let args = json!({"t": text});
        prop_assert!(r.contains_secret(&args).is_none());
    }

    #[test]
    fn several_secrets_overlapping_leave_nothing(a in "[a-z]{8,16}", b in "[a-z]{8,16}", joiner in "[a-z]{0,4}") {
        let secrets = [
            Secret::new(SecretName::new("A").unwrap(), a.clone()),
            Secret::new(SecretName::new("B").unwrap(), b.clone()),
        ];
        let r = Redactor::new(&secrets).unwrap();
        let text = format!("<{a}{joiner}{b}{a}>");
        let out = r.redact(&text);
        prop_assert!(!out.contains(&a) && !out.contains(&b), "{text} -> {out}");
        prop_assert!(out.starts_with('<') && out.ends_with('>'), "{out}");
    }
}
