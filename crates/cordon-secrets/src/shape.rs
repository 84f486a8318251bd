//! What a credential looks like: the one owner of the guess "this value should live in the
//! keychain, not in a config file".
//!
//! Two callers ask it, with different consequences: agent onboarding (`cordon agents import`)
//! moves such values into `${keychain:NAME}` references, and the settings window refuses to
//! write a well-known credential into the config as plain text. Both used to carry their own
//! prefix list; a prefix added for one was missing in the other.

/// Value prefixes of well-known credential formats (GitHub personal, OAuth and server tokens,
/// GitLab, Slack, AWS access keys, OpenAI-style `sk-` keys). A value starting with one of them
/// is a credential whatever its name says.
pub const CREDENTIAL_PREFIXES: &[&str] = &[
    "ghp_",
    "gho_",
    "ghs_",
    "github_pat_",
    "glpat-",
    "xox",
    "AKIA",
    "sk-",
];

/// Words that make an environment variable or header name a credential's (`GITHUB_TOKEN`,
/// `API_KEY`, `Authorization`, …), compared case-insensitively.
const CREDENTIAL_NAME_WORDS: &[&str] = &[
    "TOKEN",
    "SECRET",
    "KEY",
    "PASSWORD",
    "PASSWD",
    "PAT",
    "CREDENTIAL",
    "AUTH",
    "COOKIE",
];

/// Whether `value` (an optional `Bearer ` stripped) starts like a well-known credential.
/// Narrow (prefixes only, no guessing from names or shapes), so the settings window refuses on
/// it: a config value starting with one of these prefixes belongs in the keychain.
pub fn has_credential_prefix(value: &str) -> bool {
    let bare = value.strip_prefix("Bearer ").unwrap_or(value);
    CREDENTIAL_PREFIXES.iter().any(|p| bare.starts_with(p))
}

/// Whether an env variable or header carries a credential, by its name, its value's prefix
/// (including any `Bearer ` value) or its shape (24+ characters mixing letters and digits, no
/// space or slash). Generous: a caller that moves such values to the keychain loses nothing by
/// a false hit, and leaks a credential by a miss.
pub fn looks_secret(name: &str, value: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    let by_name = CREDENTIAL_NAME_WORDS.iter().any(|w| upper.contains(w));
    let by_prefix = value.starts_with("Bearer ") || has_credential_prefix(value);
    let random = value.len() >= 24
        && !value.contains(' ')
        && !value.contains('/')
        && value.chars().any(|c| c.is_ascii_digit())
        && value.chars().any(|c| c.is_ascii_alphabetic());
    by_name || by_prefix || random
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_detected_by_name_and_shape() {
        assert!(looks_secret("GITHUB_PERSONAL_ACCESS_TOKEN", "x"));
        assert!(looks_secret("FOO", "ghp_abcdef"));
        assert!(looks_secret("FOO", "a1b2c3d4e5f6g7h8i9j0k1l2m3"));
        assert!(looks_secret("X_HEADER", "Bearer abc"));
        assert!(!looks_secret("LOG_LEVEL", "debug"));
        assert!(!looks_secret("HOME", "/home/someone/with/a/long/path/2024"));
    }

    #[test]
    fn prefixes_are_checked_behind_a_bearer_and_nowhere_else() {
        for credential in [
            "ghp_x",
            "gho_x",
            "ghs_x",
            "github_pat_x",
            "glpat-x",
            "xoxb-1",
            "xoxp-1",
            "AKIAEXAMPLE",
            "sk-abc",
            "Bearer ghp_x",
        ] {
            assert!(has_credential_prefix(credential), "{credential}");
            assert!(looks_secret("PLAIN", credential), "{credential}");
        }
        for harmless in ["${keychain:gh}", "debug", "a ghp_ later", "Bearer", "skip"] {
            assert!(!has_credential_prefix(harmless), "{harmless}");
        }
    }
}
