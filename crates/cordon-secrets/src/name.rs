//! Secret names and values: a name is public configuration, a value never prints.

use std::fmt;

use zeroize::Zeroizing;

use crate::SecretError;

/// Longest accepted secret name (keychains limit attribute lengths; names are typed by hand).
pub const MAX_NAME_LEN: usize = 128;

/// The name of a stored secret, as written in `${keychain:NAME}`: `[A-Za-z0-9_.-]+`.
///
/// Validated on construction so a name can be interpolated into messages, keychain attributes
/// and redaction markers without escaping.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(transparent)]
pub struct SecretName(String);

impl SecretName {
    /// Validates a name.
    pub fn new(name: &str) -> Result<SecretName, SecretError> {
        let invalid = |reason: &str| SecretError::InvalidName {
            name: name.chars().take(MAX_NAME_LEN + 8).collect(),
            reason: reason.to_owned(),
        };
        if name.is_empty() {
            return Err(invalid("a name must not be empty"));
        }
        if name.len() > MAX_NAME_LEN {
            return Err(invalid(&format!("at most {MAX_NAME_LEN} characters")));
        }
        if !name.bytes().all(is_name_byte) {
            return Err(invalid(
                "use letters, digits, `_`, `.` and `-` only ([A-Za-z0-9_.-]+)",
            ));
        }
        Ok(SecretName(name.to_owned()))
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for SecretName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> serde::Deserialize<'de> for SecretName {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        SecretName::new(&text).map_err(serde::de::Error::custom)
    }
}

/// Whether `b` may appear in a secret name.
pub(crate) fn is_name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-')
}

/// A secret value with its name. `Debug` and `Display` print `[REDACTED:NAME]`, so a secret
/// that ends up in a log line or an error by mistake still does not leak; the memory is zeroed
/// on drop (copies handed to the OS or to other crates are outside our control).
#[derive(Clone)]
pub struct Secret {
    name: SecretName,
    value: Zeroizing<String>,
}

impl Secret {
    /// Wraps a value (taking ownership so no extra copy is left behind).
    pub fn new(name: SecretName, value: String) -> Secret {
        Secret {
            name,
            value: Zeroizing::new(value),
        }
    }

    /// The secret's name.
    pub fn name(&self) -> &SecretName {
        &self.name
    }

    /// The value, for injection into an upstream's environment, arguments or headers only.
    pub fn expose(&self) -> &str {
        &self.value
    }

    /// The marker that replaces the value wherever it would leave the engine.
    pub fn marker(&self) -> String {
        marker(&self.name)
    }
}

/// `[REDACTED:NAME]`.
pub fn marker(name: &SecretName) -> String {
    format!("[REDACTED:{name}]")
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[REDACTED:{}]", self.name)
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[REDACTED:{}]", self.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_validated() {
        for ok in ["GITHUB_TOKEN", "a", "x.y-z_9", &"a".repeat(MAX_NAME_LEN)] {
            assert!(SecretName::new(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "has space",
            "colon:x",
            "dollar$",
            "brace}",
            "ünï",
            "new\nline",
            &"a".repeat(MAX_NAME_LEN + 1),
        ] {
            let error = SecretName::new(bad).unwrap_err();
            assert!(
                error.to_string().starts_with("invalid secret name"),
                "{error}"
            );
        }
    }

    #[test]
    fn secrets_never_print_their_value() {
        let secret = Secret::new(SecretName::new("API").unwrap(), "hunter2-hunter2".into());
        assert_eq!(format!("{secret}"), "[REDACTED:API]");
        assert_eq!(format!("{secret:?}"), "[REDACTED:API]");
        assert_eq!(format!("{:?}", vec![secret.clone()]), "[[REDACTED:API]]");
        assert_eq!(secret.expose(), "hunter2-hunter2");
    }
}
