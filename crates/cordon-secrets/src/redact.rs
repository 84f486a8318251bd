//! Redaction: every known secret value, and its usual encodings, becomes `[REDACTED:NAME]`
//! before any text leaves the engine; the same matcher drives the exfiltration check.
//!
//! Forms matched, for a value `v` (all at once, one Aho-Corasick automaton, ASCII case
//! insensitive so hex and percent-escapes match in either case):
//! - `v` itself, and `v` as it appears inside a JSON string literal (escaped quotes, `\n`...);
//! - hex of its UTF-8 bytes;
//! - base64, standard and URL-safe alphabets, with and without padding;
//! - the base64 fragments that are fully determined by `v` when `v` sits at any of the three
//!   byte alignments inside a longer base64 blob (e.g. `user:token` inside an HTTP Basic
//!   header), when at least [`MIN_FRAGMENT_LEN`] characters long;
//! - percent-encoding as done by RFC 3986 (unreserved kept), JavaScript's
//!   `encodeURIComponent`, Python's `quote` and HTML form encoding (space as `+`).
//!
//! Matches may overlap (two secrets sharing text, a value inside its own encoding): all
//! overlapping matches are found and merged, so no fragment of a form survives next to a marker.
//!
//! Values shorter than [`MIN_SECRET_LEN`] are refused, not ignored: redacting a 3-byte value
//! would mangle every tool result that happens to contain those 3 bytes and make the
//! exfiltration check refuse innocent calls, while ignoring it would let it leak. Fail closed:
//! [`crate::SecretStore::set`] refuses to store one and [`Redactor::new`] refuses to start
//! with one.
//!
//! Not caught (known limits): other transformations (reversed, split across JSON values,
//! compressed, encrypted, base32, line-wrapped MIME base64, double percent-encoding), and a
//! value split across two separately redacted chunks of a stream (redact whole lines).

use std::borrow::Cow;
use std::collections::BTreeMap;

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use serde_json::Value;

use crate::SecretError;
use crate::name::{Secret, SecretName, marker};

/// Shortest secret value (bytes) Cordon accepts; see the module docs for why shorter ones are
/// refused rather than ignored.
pub const MIN_SECRET_LEN: usize = 8;

/// Longest secret value (bytes) Cordon accepts.
pub const MAX_SECRET_LEN: usize = 16 * 1024;

/// Shortest embedded-base64 fragment matched: shorter fragments would match ordinary text.
pub const MIN_FRAGMENT_LEN: usize = 8;

/// How many times redaction re-scans its own output (a marker could, in theory, complete a
/// secret's form together with the text around it).
const MAX_PASSES: usize = 4;

/// Replaces every known secret (in every form listed in the module docs) with
/// `[REDACTED:NAME]`. Cheap to share (`Arc`) and immutable: build a new one when the set of
/// secrets changes.
pub struct Redactor {
    matcher: Option<AhoCorasick>,
    /// Pattern id → index into `names`.
    owners: Vec<usize>,
    /// Pattern id → pattern length (for "longest match wins" when merging).
    lengths: Vec<usize>,
    names: Vec<SecretName>,
    markers: Vec<String>,
}

impl std::fmt::Debug for Redactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Redactor")
            .field("secrets", &self.names)
            .field("patterns", &self.owners.len())
            .finish()
    }
}

impl Default for Redactor {
    fn default() -> Self {
        Redactor::empty()
    }
}

impl Redactor {
    /// A redactor that knows no secret (nothing is changed).
    pub fn empty() -> Redactor {
        Redactor {
            matcher: None,
            owners: Vec::new(),
            lengths: Vec::new(),
            names: Vec::new(),
            markers: Vec::new(),
        }
    }

    /// Builds the matcher for `secrets` (a later secret with the same name replaces an earlier
    /// one). Refuses values shorter than [`MIN_SECRET_LEN`].
    pub fn new<'a>(secrets: impl IntoIterator<Item = &'a Secret>) -> Result<Redactor, SecretError> {
        let mut by_name: BTreeMap<&SecretName, &str> = BTreeMap::new();
        for secret in secrets {
            by_name.insert(secret.name(), secret.expose());
        }
        let mut patterns: Vec<Vec<u8>> = Vec::new();
        let mut owners = Vec::new();
        let mut names = Vec::new();
        let mut seen: std::collections::HashSet<Vec<u8>> = std::collections::HashSet::new();
        for (name, value) in by_name {
            if value.len() < MIN_SECRET_LEN {
                return Err(SecretError::TooShort {
                    name: name.to_string(),
                    len: value.len(),
                    min: MIN_SECRET_LEN,
                });
            }
            let owner = names.len();
            names.push(name.clone());
            for form in forms(value) {
                // Case-insensitive matching: forms differing only in ASCII case are one pattern.
                if seen.insert(form.to_ascii_lowercase()) {
                    patterns.push(form);
                    owners.push(owner);
                }
            }
        }
        if patterns.is_empty() {
            return Ok(Redactor::empty());
        }
        let matcher = AhoCorasickBuilder::new()
            .match_kind(MatchKind::Standard)
            .ascii_case_insensitive(true)
            .build(&patterns)
            .map_err(|e| SecretError::BadValue {
                name: names
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(","),
                reason: format!("cannot build the redaction matcher: {e}"),
            })?;
        Ok(Redactor {
            matcher: Some(matcher),
            lengths: patterns.iter().map(Vec::len).collect(),
            owners,
            markers: names.iter().map(marker).collect(),
            names,
        })
    }

    /// Whether no secret is known (redaction is the identity).
    pub fn is_empty(&self) -> bool {
        self.matcher.is_none()
    }

    /// The names of the secrets this redactor knows.
    pub fn names(&self) -> &[SecretName] {
        &self.names
    }

    /// The longest pattern in bytes. A stream redacted in chunks (an upstream's stderr) must
    /// carry the last `max_pattern_len() - 1` bytes of a chunk over to the next one, or a value
    /// split across the boundary escapes.
    pub fn max_pattern_len(&self) -> usize {
        self.lengths.iter().copied().max().unwrap_or(0)
    }

    /// How many byte patterns (forms) are matched, for diagnostics.
    pub fn pattern_count(&self) -> usize {
        self.owners.len()
    }

    /// The merged, non-overlapping regions to replace in `bytes`, each with the index of the
    /// secret it belongs to.
    fn regions(&self, bytes: &[u8]) -> Vec<(usize, usize, usize)> {
        let Some(matcher) = &self.matcher else {
            return Vec::new();
        };
        let mut found: Vec<(usize, usize, usize)> = match matcher.try_find_overlapping_iter(bytes) {
            Ok(iter) => iter
                .map(|m| (m.start(), m.end(), m.pattern().as_usize()))
                .collect(),
            // Unreachable with MatchKind::Standard; fail closed: treat everything as secret.
            Err(_) => return vec![(0, bytes.len(), 0)],
        };
        found.sort_unstable();
        let mut merged: Vec<(usize, usize, usize)> = Vec::new();
        // (start, end, owner, length of the longest match so far) of the region being built.
        let mut current: Option<(usize, usize, usize, usize)> = None;
        for (start, end, pattern) in found {
            let owner = self.owners.get(pattern).copied().unwrap_or(0);
            let len = self.lengths.get(pattern).copied().unwrap_or(0);
            current = Some(match current {
                Some((s, e, o, l)) if start < e => {
                    let (o, l) = if len > l { (owner, len) } else { (o, l) };
                    (s, e.max(end), o, l)
                }
                Some((s, e, o, _)) => {
                    merged.push((s, e, o));
                    (start, end, owner, len)
                }
                None => (start, end, owner, len),
            });
        }
        if let Some((s, e, o, _)) = current {
            merged.push((s, e, o));
        }
        merged
    }

    fn replace_once(&self, bytes: &[u8]) -> Option<Vec<u8>> {
        let regions = self.regions(bytes);
        if regions.is_empty() {
            return None;
        }
        let mut out = Vec::with_capacity(bytes.len());
        let mut last = 0;
        for (start, end, owner) in regions {
            out.extend_from_slice(bytes.get(last..start).unwrap_or_default());
            out.extend_from_slice(self.marker(owner).as_bytes());
            last = end;
        }
        out.extend_from_slice(bytes.get(last..).unwrap_or_default());
        Some(out)
    }

    fn marker(&self, owner: usize) -> &str {
        self.markers
            .get(owner)
            .map(String::as_str)
            .unwrap_or("[REDACTED]")
    }

    /// Redacts raw bytes (e.g. an upstream's stderr). Matches on UTF-8 text always fall on
    /// character boundaries, so valid UTF-8 stays valid.
    pub fn redact_bytes<'a>(&self, bytes: &'a [u8]) -> Cow<'a, [u8]> {
        let Some(mut current) = self.replace_once(bytes) else {
            return Cow::Borrowed(bytes);
        };
        for _ in 1..MAX_PASSES {
            match self.replace_once(&current) {
                Some(next) => current = next,
                None => return Cow::Owned(current),
            }
        }
        // Still matching after several passes (a value built to collide with the marker):
        // withhold the whole text rather than risk a leak.
        let owner = self.regions(&current).first().map(|r| r.2).unwrap_or(0);
        Cow::Owned(self.marker(owner).as_bytes().to_vec())
    }

    /// Redacts text.
    pub fn redact<'a>(&self, text: &'a str) -> Cow<'a, str> {
        match self.redact_bytes(text.as_bytes()) {
            Cow::Borrowed(_) => Cow::Borrowed(text),
            Cow::Owned(bytes) => Cow::Owned(match String::from_utf8(bytes) {
                Ok(s) => s,
                Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
            }),
        }
    }

    /// Redacts every string, object key and number of a JSON value in place. A number that
    /// contains a secret becomes the marker string.
    pub fn redact_value(&self, value: &mut Value) {
        if self.is_empty() {
            return;
        }
        match value {
            Value::String(s) => {
                if let Cow::Owned(redacted) = self.redact(s) {
                    *s = redacted;
                }
            }
            Value::Number(n) => {
                if let Cow::Owned(redacted) = self.redact(&n.to_string()) {
                    *value = Value::String(redacted);
                }
            }
            Value::Array(items) => items.iter_mut().for_each(|v| self.redact_value(v)),
            Value::Object(map) => {
                let keys_clean = map.keys().all(|k| self.find(k).is_none());
                if keys_clean {
                    map.values_mut().for_each(|v| self.redact_value(v));
                } else {
                    let old = std::mem::take(map);
                    for (key, mut v) in old {
                        self.redact_value(&mut v);
                        let key = self.redact(&key).into_owned();
                        // Two keys redacting to the same marker: keep both values.
                        let key = unique_key(map, key);
                        map.insert(key, v);
                    }
                }
            }
            Value::Null | Value::Bool(_) => {}
        }
    }

    /// A redacted copy of a JSON value.
    pub fn redacted_value(&self, value: &Value) -> Value {
        let mut copy = value.clone();
        self.redact_value(&mut copy);
        copy
    }

    /// The first secret whose value (in any form) occurs in `text`.
    pub fn find(&self, text: &str) -> Option<&SecretName> {
        let matcher = self.matcher.as_ref()?;
        match matcher.try_find(text.as_bytes()) {
            Ok(found) => {
                let m = found?;
                self.owners
                    .get(m.pattern().as_usize())
                    .and_then(|o| self.names.get(*o))
            }
            // Fail closed: an unsearchable text counts as containing a secret.
            Err(_) => self.names.first(),
        }
    }

    /// The first secret found (in any form) in a JSON value's strings, object keys or numbers:
    /// the exfiltration check on a call's arguments.
    pub fn contains_secret(&self, value: &Value) -> Option<SecretName> {
        if self.is_empty() {
            return None;
        }
        match value {
            Value::String(s) => self.find(s).cloned(),
            Value::Number(n) => self.find(&n.to_string()).cloned(),
            Value::Array(items) => items.iter().find_map(|v| self.contains_secret(v)),
            Value::Object(map) => map
                .iter()
                .find_map(|(k, v)| self.find(k).cloned().or_else(|| self.contains_secret(v))),
            Value::Null | Value::Bool(_) => None,
        }
    }
}

fn unique_key(map: &serde_json::Map<String, Value>, key: String) -> String {
    if !map.contains_key(&key) {
        return key;
    }
    (2..)
        .map(|i| format!("{key}#{i}"))
        .find(|k| !map.contains_key(k))
        .unwrap_or(key)
}

/// Every form of `value` that is matched (see the module docs). Deduplicated by the caller.
pub fn forms(value: &str) -> Vec<Vec<u8>> {
    let bytes = value.as_bytes();
    let mut out: Vec<Vec<u8>> = vec![bytes.to_vec()];
    // Inside a JSON string literal.
    if let Ok(json) = serde_json::to_string(value)
        && let Some(inner) = json.get(1..json.len().saturating_sub(1))
    {
        out.push(inner.as_bytes().to_vec());
    }
    out.push(hex::encode(bytes).into_bytes());
    for engine in [STANDARD, URL_SAFE] {
        out.push(engine.encode(bytes).into_bytes());
    }
    for engine in [STANDARD_NO_PAD, URL_SAFE_NO_PAD] {
        out.push(engine.encode(bytes).into_bytes());
        // Embedded at alignment k: encode k filler bytes + value and keep the characters whose
        // 6 bits all come from the value.
        for k in 0..3usize {
            let mut padded = vec![0u8; k];
            padded.extend_from_slice(bytes);
            let encoded = engine.encode(&padded);
            let start = (8 * k).div_ceil(6);
            let end = 8 * (k + bytes.len()) / 6;
            if let Some(fragment) = encoded.get(start..end)
                && fragment.len() >= MIN_FRAGMENT_LEN
            {
                out.push(fragment.as_bytes().to_vec());
            }
        }
    }
    for keep in [
        UrlStyle::Rfc3986,
        UrlStyle::EncodeUriComponent,
        UrlStyle::PythonQuote,
        UrlStyle::Form,
    ] {
        out.push(percent_encode(bytes, keep).into_bytes());
    }
    out
}

/// Which bytes a percent-encoder leaves alone.
#[derive(Clone, Copy)]
enum UrlStyle {
    /// `A-Za-z0-9-._~`.
    Rfc3986,
    /// JavaScript: also `!'()*`.
    EncodeUriComponent,
    /// Python `urllib.parse.quote`: unreserved and `/`.
    PythonQuote,
    /// `application/x-www-form-urlencoded`: `A-Za-z0-9*-._`, space as `+`.
    Form,
}

fn percent_encode(bytes: &[u8], style: UrlStyle) -> String {
    use std::fmt::Write as _;
    let mut out = String::with_capacity(bytes.len() * 3);
    for &b in bytes {
        let keep = b.is_ascii_alphanumeric()
            || match style {
                UrlStyle::Rfc3986 => matches!(b, b'-' | b'.' | b'_' | b'~'),
                UrlStyle::EncodeUriComponent => {
                    matches!(
                        b,
                        b'-' | b'.' | b'_' | b'~' | b'!' | b'\'' | b'(' | b')' | b'*'
                    )
                }
                UrlStyle::PythonQuote => matches!(b, b'-' | b'.' | b'_' | b'~' | b'/'),
                UrlStyle::Form => matches!(b, b'*' | b'-' | b'.' | b'_'),
            };
        if keep {
            out.push(char::from(b));
        } else if b == b' ' && matches!(style, UrlStyle::Form) {
            out.push('+');
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn secret(name: &str, value: &str) -> Secret {
        Secret::new(SecretName::new(name).unwrap(), value.to_owned())
    }

    fn redactor(pairs: &[(&str, &str)]) -> Redactor {
        let secrets: Vec<Secret> = pairs.iter().map(|(n, v)| secret(n, v)).collect();
        Redactor::new(&secrets).unwrap()
    }

    const VALUE: &str = "ghp_S3cr3t/Value+with spaces&=?";

    #[test]
    fn every_form_is_redacted() {
        let r = redactor(&[("GH", VALUE)]);
        let encoded = [
            VALUE.to_owned(),
            hex::encode(VALUE),
            hex::encode_upper(VALUE),
            STANDARD.encode(VALUE),
            STANDARD_NO_PAD.encode(VALUE),
            URL_SAFE.encode(VALUE),
            URL_SAFE_NO_PAD.encode(VALUE),
            percent_encode(VALUE.as_bytes(), UrlStyle::Rfc3986),
            percent_encode(VALUE.as_bytes(), UrlStyle::Rfc3986).to_lowercase(),
            percent_encode(VALUE.as_bytes(), UrlStyle::Form),
            percent_encode(VALUE.as_bytes(), UrlStyle::EncodeUriComponent),
            percent_encode(VALUE.as_bytes(), UrlStyle::PythonQuote),
            // Basic auth: user:value inside one base64 blob, at each alignment.
            STANDARD.encode(format!("u:{VALUE}")),
            STANDARD.encode(format!("us:{VALUE}")),
            STANDARD.encode(format!("use:{VALUE}")),
            URL_SAFE_NO_PAD.encode(format!("xx{VALUE}yyyy")),
        ];
        for form in encoded {
            let text = format!("before {form} after");
            let out = r.redact(&text);
            assert!(out.contains("[REDACTED:GH]"), "{form} -> {out}");
            assert!(!out.contains(&form), "{form} survived: {out}");
            assert!(
                out.starts_with("before ") && out.ends_with(" after"),
                "{out}"
            );
            assert_eq!(r.find(&text).map(SecretName::as_str), Some("GH"), "{form}");
        }
    }

    #[test]
    fn json_escaped_value_in_text_is_redacted() {
        let r = redactor(&[("Q", "pa\"ss\\wo\nrd-long")]);
        let text = serde_json::to_string(&json!({"k": "pa\"ss\\wo\nrd-long"})).unwrap();
        assert_eq!(r.redact(&text), r#"{"k":"[REDACTED:Q]"}"#);
    }

    #[test]
    fn overlapping_secrets_leave_no_fragment() {
        let r = redactor(&[("A", "abcdefgh1234"), ("B", "zzzzabcdefgh")]);
        // One merged region, labelled by its longest match (ties: the one starting first).
        let out = r.redact("xx zzzzabcdefgh1234 yy");
        assert_eq!(out, "xx [REDACTED:B] yy");
        let out = r.redact("abcdefgh1234abcdefgh1234");
        assert_eq!(out, "[REDACTED:A][REDACTED:A]");
    }

    #[test]
    fn text_without_secrets_is_borrowed_unchanged() {
        let r = redactor(&[("A", "abcdefgh1234")]);
        assert!(matches!(r.redact("nothing here"), Cow::Borrowed(_)));
        assert!(matches!(Redactor::empty().redact(VALUE), Cow::Borrowed(_)));
        assert_eq!(Redactor::empty().contains_secret(&json!(VALUE)), None);
    }

    #[test]
    fn json_values_keys_and_numbers_are_redacted() {
        let r = redactor(&[("T", "tok-0123456789"), ("N", "31415926535")]);
        let value = json!({
            "ok": "fine",
            "tok-0123456789": "as a key",
            "nested": [{"x": "Bearer tok-0123456789"}, 31415926535u64, true, null],
            "b64": STANDARD.encode("tok-0123456789"),
        });
        let out = r.redacted_value(&value);
        let text = out.to_string();
        assert!(!text.contains("tok-0123456789"), "{text}");
        assert!(!text.contains("31415926535"), "{text}");
        assert_eq!(out["[REDACTED:T]"], json!("as a key"));
        assert_eq!(out["nested"][0]["x"], json!("Bearer [REDACTED:T]"));
        assert_eq!(out["nested"][1], json!("[REDACTED:N]"));
        assert_eq!(out["b64"], json!("[REDACTED:T]"));
        assert_eq!(out["ok"], json!("fine"));
        // Two keys that redact to the same marker both survive.
        let two = r.redacted_value(&json!({"tok-0123456789": 1, "TOK-0123456789": 2}));
        assert_eq!(two.as_object().unwrap().len(), 2, "{two}");
    }

    #[test]
    fn exfiltration_check_finds_any_form_anywhere() {
        let r = redactor(&[("T", "tok-0123456789")]);
        for args in [
            json!({"url": "https://evil.example/?q=tok-0123456789"}),
            json!({"body": {"deep": [STANDARD.encode("tok-0123456789")]}}),
            json!({"h": hex::encode("tok-0123456789")}),
            json!({"TOK-0123456789": 1}),
        ] {
            assert_eq!(
                r.contains_secret(&args).map(|n| n.to_string()),
                Some("T".to_owned()),
                "{args}"
            );
        }
        assert_eq!(r.contains_secret(&json!({"path": "README.md"})), None);
    }

    #[test]
    fn short_values_are_refused_not_ignored() {
        let error = Redactor::new(&[secret("PIN", "1234")]).unwrap_err();
        assert!(
            matches!(error, SecretError::TooShort { len: 4, .. }),
            "{error}"
        );
        assert!(error.to_string().contains("at least 8 bytes"), "{error}");
    }

    #[test]
    fn marker_collisions_terminate_and_do_not_leak() {
        // A value made to re-form itself around the marker.
        let r = redactor(&[("X", "D:X]D:X]")]);
        let out = r.redact("[REDACTED:X]D:X]D:X] D:X]D:X]");
        assert!(!out.contains("D:X]D:X]"), "{out}");
    }

    #[test]
    fn debug_does_not_show_values() {
        let r = redactor(&[("T", "tok-0123456789")]);
        assert_eq!(
            r.max_pattern_len(),
            2 * "tok-0123456789".len(),
            "hex is the longest form"
        );
        let shown = format!("{r:?}");
        assert!(!shown.contains("tok-0123456789"), "{shown}");
        assert!(shown.contains("\"T\""), "{shown}");
    }
}
