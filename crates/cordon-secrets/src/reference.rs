//! `${keychain:NAME}` references in an upstream's `env` values, `args` and HTTP `headers`.
//!
//! Grammar (deliberately strict: a typo must not silently become a literal string sent to a
//! server):
//! - `${keychain:NAME}` is replaced by the secret NAME (`[A-Za-z0-9_.-]+`);
//! - `$${` is a literal `${`;
//! - any other `${` is an error naming its byte position (write `$${` for a literal);
//! - a `$` not followed by `{` is literal.

use crate::SecretError;
use std::collections::BTreeMap;

use crate::name::{Secret, SecretName, is_name_byte};
use crate::store::{SecretSource, SecretUsage};

const OPEN: &str = "${";
const PREFIX: &str = "keychain:";

/// One piece of a parsed value.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece<'a> {
    Literal(&'a str),
    Reference(SecretName),
}

fn parse(text: &str) -> Result<Vec<Piece<'_>>, SecretError> {
    let mut pieces = Vec::new();
    let mut literal_start = 0;
    let mut i = 0;
    let bytes = text.as_bytes();
    while i < bytes.len() {
        let rest = text.get(i..).unwrap_or_default();
        if rest.starts_with("$${") {
            // Escape: keep `${`, drop one `$`.
            pieces.push(Piece::Literal(
                text.get(literal_start..i).unwrap_or_default(),
            ));
            pieces.push(Piece::Literal(OPEN));
            i += 3;
            literal_start = i;
        } else if rest.starts_with(OPEN) {
            pieces.push(Piece::Literal(
                text.get(literal_start..i).unwrap_or_default(),
            ));
            let (name, len) = parse_reference(rest, i)?;
            pieces.push(Piece::Reference(name));
            i += len;
            literal_start = i;
        } else {
            i += 1;
        }
    }
    pieces.push(Piece::Literal(
        text.get(literal_start..).unwrap_or_default(),
    ));
    pieces.retain(|p| !matches!(p, Piece::Literal("")));
    Ok(pieces)
}

/// Parses `${keychain:NAME}` at the start of `rest` (which sits at byte `position` of the
/// value); returns the name and the reference's length in bytes.
fn parse_reference(rest: &str, position: usize) -> Result<(SecretName, usize), SecretError> {
    let error = |message: String| SecretError::Reference { position, message };
    let after_open = rest.get(OPEN.len()..).unwrap_or_default();
    let Some(body) = after_open.strip_prefix(PREFIX) else {
        let shown: String = after_open.chars().take(20).collect();
        return Err(error(format!(
            "`${{{shown}...` is not a keychain reference: write `${{keychain:NAME}}`, or `$${{` for a literal `${{`"
        )));
    };
    let name_len = body.bytes().take_while(|&b| is_name_byte(b)).count();
    let name = body.get(..name_len).unwrap_or_default();
    match body.as_bytes().get(name_len) {
        Some(b'}') if !name.is_empty() => {
            let name = SecretName::new(name).map_err(|e| error(e.to_string()))?;
            Ok((name, OPEN.len() + PREFIX.len() + name_len + 1))
        }
        Some(b'}') => Err(error(
            "`${keychain:}` names no secret: write `${keychain:NAME}`".to_owned(),
        )),
        None => Err(error(format!(
            "`${{keychain:{name}` is not closed: write `${{keychain:{}}}`",
            if name.is_empty() { "NAME" } else { name }
        ))),
        Some(_) => {
            let bad = body
                .get(name_len..)
                .and_then(|s| s.chars().next())
                .unwrap_or('?');
            Err(error(format!(
                "character `{}` after `${{keychain:{name}`: a secret name uses letters, digits, `_`, `.` and `-` and ends with `}}`",
                bad.escape_default()
            )))
        }
    }
}

/// The secret names a value references, in order of appearance, each once. For validating a
/// config at load time (before any keychain access).
pub fn references(text: &str) -> Result<Vec<SecretName>, SecretError> {
    let mut names: Vec<SecretName> = Vec::new();
    for piece in parse(text)? {
        if let Piece::Reference(name) = piece
            && !names.contains(&name)
        {
            names.push(name);
        }
    }
    Ok(names)
}

/// Replaces every `${keychain:NAME}` in `text` with the secret's value (and `$${` with `${`).
/// Returns the expanded text and the names used. Any missing secret or malformed reference is
/// an error: the server must not start with a half-expanded value.
///
/// The returned text contains secret values: hand it to the upstream only, never to a log.
pub fn expand_references(
    text: &str,
    store: &dyn SecretSource,
) -> Result<(String, Vec<SecretName>), SecretError> {
    let mut out = String::with_capacity(text.len());
    let mut used: Vec<SecretName> = Vec::new();
    for piece in parse(text)? {
        match piece {
            Piece::Literal(s) => out.push_str(s),
            Piece::Reference(name) => {
                let secret = store.secret(&name)?;
                out.push_str(secret.expose());
                if !used.contains(&name) {
                    used.push(name);
                }
            }
        }
    }
    Ok((out, used))
}

/// Expands the references of one server's config, reading each secret from the keychain once,
/// and keeps the secrets it used (to build the [`crate::Redactor`]).
pub struct Expander<'a> {
    source: &'a dyn SecretSource,
    resolved: BTreeMap<SecretName, Secret>,
}

impl<'a> Expander<'a> {
    /// An expander reading from `source`.
    pub fn new(source: &'a dyn SecretSource) -> Expander<'a> {
        Expander {
            source,
            resolved: BTreeMap::new(),
        }
    }

    /// Expands one value (see [`expand_references`]).
    pub fn expand(&mut self, text: &str) -> Result<String, SecretError> {
        let mut out = String::with_capacity(text.len());
        for piece in parse(text)? {
            match piece {
                Piece::Literal(s) => out.push_str(s),
                Piece::Reference(name) => {
                    if !self.resolved.contains_key(&name) {
                        let secret = self.source.secret(&name)?;
                        self.resolved.insert(name.clone(), secret);
                    }
                    if let Some(secret) = self.resolved.get(&name) {
                        out.push_str(secret.expose());
                    }
                }
            }
        }
        Ok(out)
    }

    /// Expands every value of a map (env, headers); keys are kept as written.
    pub fn expand_map(
        &mut self,
        map: &BTreeMap<String, String>,
    ) -> Result<BTreeMap<String, String>, SecretError> {
        map.iter()
            .map(|(k, v)| Ok((k.clone(), self.expand(v)?)))
            .collect()
    }

    /// Expands every element of a list (args).
    pub fn expand_list(&mut self, list: &[String]) -> Result<Vec<String>, SecretError> {
        list.iter().map(|v| self.expand(v)).collect()
    }

    /// The secrets used so far.
    pub fn secrets(&self) -> impl Iterator<Item = &Secret> {
        self.resolved.values()
    }

    /// The secrets used, by value (for the redactor).
    pub fn into_secrets(self) -> Vec<Secret> {
        self.resolved.into_values().collect()
    }
}

/// Adds the references of one config value to `usage`, labelled with where it appears
/// (e.g. `github (env GITHUB_TOKEN)`), for `cordon secret list`.
pub fn record_usage(usage: &mut SecretUsage, text: &str, place: &str) -> Result<(), SecretError> {
    for name in references(text)? {
        let places = usage.entry(name).or_default();
        if !places.iter().any(|p| p == place) {
            places.push(place.to_owned());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn store() -> BTreeMap<SecretName, String> {
        BTreeMap::from([
            (
                SecretName::new("TOKEN").unwrap(),
                "tok-123456789".to_owned(),
            ),
            (
                SecretName::new("a.b-c_d").unwrap(),
                "v2-abcdefgh".to_owned(),
            ),
        ])
    }

    fn expand(text: &str) -> Result<(String, Vec<String>), SecretError> {
        expand_references(text, &store())
            .map(|(s, names)| (s, names.iter().map(|n| n.to_string()).collect()))
    }

    #[test]
    fn expansion_table() {
        let cases: &[(&str, &str, &[&str])] = &[
            ("plain", "plain", &[]),
            ("", "", &[]),
            ("${keychain:TOKEN}", "tok-123456789", &["TOKEN"]),
            (
                "Bearer ${keychain:TOKEN}",
                "Bearer tok-123456789",
                &["TOKEN"],
            ),
            (
                "${keychain:TOKEN}:${keychain:a.b-c_d}/${keychain:TOKEN}",
                "tok-123456789:v2-abcdefgh/tok-123456789",
                &["TOKEN", "a.b-c_d"],
            ),
            ("$${keychain:TOKEN}", "${keychain:TOKEN}", &[]),
            // The scan is left to right: `$` then the escape `$${`.
            ("$$${keychain:TOKEN}", "$${keychain:TOKEN}", &[]),
            ("cost $5 and $HOME", "cost $5 and $HOME", &[]),
            ("$", "$", &[]),
            ("$$", "$$", &[]),
            (
                "ünï ${keychain:TOKEN} ünï",
                "ünï tok-123456789 ünï",
                &["TOKEN"],
            ),
        ];
        for (input, output, names) in cases {
            let (got, used) = expand(input).unwrap_or_else(|e| panic!("{input}: {e}"));
            assert_eq!(&got, output, "{input}");
            assert_eq!(used, *names, "{input}");
        }
    }

    #[test]
    fn errors_name_the_position() {
        let cases: &[(&str, usize, &str)] = &[
            ("x ${keychain:TOKEN", 2, "not closed"),
            ("${keychain:}", 0, "names no secret"),
            ("abc${keychain:TO KEN}", 3, "character ` `"),
            ("${HOME}", 0, "not a keychain reference"),
            ("${ keychain:A}", 0, "not a keychain reference"),
            ("${KEYCHAIN:A}", 0, "not a keychain reference"),
            (
                "ok ${keychain:TOKEN} then ${",
                26,
                "not a keychain reference",
            ),
            ("${keychain:ünï}", 0, "character `\\u{fc}`"),
        ];
        for (input, position, message) in cases {
            match expand(input) {
                Err(SecretError::Reference {
                    position: p,
                    message: m,
                }) => {
                    assert_eq!(p, *position, "{input}: {m}");
                    assert!(m.contains(message), "{input}: {m}");
                }
                other => panic!("{input}: {other:?}"),
            }
            assert!(references(input).is_err(), "{input}");
        }
    }

    #[test]
    fn missing_secret_fails_the_whole_value() {
        let error = expand("a ${keychain:TOKEN} ${keychain:NOPE}").unwrap_err();
        assert_eq!(
            error.to_string(),
            "secret `NOPE` is not in the keychain: run `cordon secret set NOPE`"
        );
    }

    #[test]
    fn expander_reads_each_secret_once_and_keeps_them() {
        struct Counting(BTreeMap<SecretName, String>, std::cell::Cell<usize>);
        impl SecretSource for Counting {
            fn secret(&self, name: &SecretName) -> Result<Secret, SecretError> {
                self.1.set(self.1.get() + 1);
                self.0.secret(name)
            }
        }
        let source = Counting(store(), std::cell::Cell::new(0));
        let mut expander = Expander::new(&source);
        let env = BTreeMap::from([
            ("A".to_owned(), "${keychain:TOKEN}".to_owned()),
            ("B".to_owned(), "x${keychain:TOKEN}".to_owned()),
        ]);
        let env = expander.expand_map(&env).unwrap();
        assert_eq!(env["B"], "xtok-123456789");
        let args = expander
            .expand_list(&["--t=${keychain:TOKEN}".to_owned(), "plain".to_owned()])
            .unwrap();
        assert_eq!(args, ["--t=tok-123456789", "plain"]);
        assert_eq!(source.1.get(), 1);
        let secrets = expander.into_secrets();
        assert_eq!(secrets.len(), 1);
        assert_eq!(secrets[0].name().as_str(), "TOKEN");
        let mut failing = Expander::new(&source);
        assert!(
            failing
                .expand_list(&["${keychain:NOPE}".to_owned()])
                .is_err()
        );
    }

    #[test]
    fn references_are_listed_once_in_order() {
        let names = references("${keychain:B}${keychain:A} $${keychain:C} ${keychain:B}").unwrap();
        let names: Vec<_> = names.iter().map(SecretName::as_str).collect();
        assert_eq!(names, ["B", "A"]);
    }

    #[test]
    fn usage_is_recorded_per_place() {
        let mut usage = SecretUsage::new();
        record_usage(
            &mut usage,
            "Bearer ${keychain:T}",
            "gh (headers Authorization)",
        )
        .unwrap();
        record_usage(&mut usage, "${keychain:T}", "fs (env T)").unwrap();
        record_usage(&mut usage, "${keychain:T}", "fs (env T)").unwrap();
        assert_eq!(
            usage[&SecretName::new("T").unwrap()],
            ["gh (headers Authorization)", "fs (env T)"]
        );
        assert!(record_usage(&mut usage, "${oops}", "x").is_err());
    }
}
