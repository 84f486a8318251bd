//! User classification rules (written in policy YAML): a tool glob, an optional server glob and
//! argument regexes decide a call's topic and tags. Tried before the known-tool mappings.

use globset::{GlobBuilder, GlobMatcher};
use regex::Regex;

use crate::TOPIC_PREFIX;

/// Why a user mapping was rejected; each variant names the field to fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MappingError {
    /// The `tool` glob does not compile.
    #[error("bad tool glob {glob:?}: {reason}")]
    BadToolGlob {
        /// The glob as written.
        glob: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The `server` glob does not compile.
    #[error("bad server glob {glob:?}: {reason}")]
    BadServerGlob {
        /// The glob as written.
        glob: String,
        /// What is wrong with it.
        reason: String,
    },
    /// An argument selector is empty or not a JSON pointer / key.
    #[error(
        "bad argument key {key:?}: use a top-level key like \"path\" or a JSON pointer like \"/env/0\""
    )]
    BadArgKey {
        /// The key as written.
        key: String,
    },
    /// An argument regex does not compile.
    #[error("bad regex for argument {key:?}: {reason}")]
    BadArgRegex {
        /// The argument the regex applies to.
        key: String,
        /// The regex compiler's message.
        reason: String,
    },
    /// The topic does not start with the prefix, or has empty or wildcard tokens.
    #[error("bad topic {topic:?}: {reason}")]
    BadTopic {
        /// The topic as written.
        topic: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A risk tag is empty or has characters other than letters, digits, `-`, `_`, `.`.
    #[error("bad risk tag {tag:?}: use letters, digits, '-', '_' or '.'")]
    BadRiskTag {
        /// The tag as written.
        tag: String,
    },
}

/// One user rule: the first mapping whose tool glob, server glob and every argument regex
/// match decides the call's topic and tags.
#[derive(Debug, Clone)]
pub struct CustomMapping {
    tool: GlobMatcher,
    server: Option<GlobMatcher>,
    args: Vec<(String, Regex)>,
    topic: String,
    risk_tags: Vec<String>,
}

impl CustomMapping {
    /// Validate and build a mapping. `args` pairs an argument selector (a top-level key like
    /// `path`, or a JSON pointer like `/env/0`) with a regex that must match the argument's
    /// value (strings as they are, other JSON values as compact JSON; a missing argument never
    /// matches). `topic` is a full topic starting with [`TOPIC_PREFIX`].
    pub fn new(
        tool_glob: &str,
        server_glob: Option<&str>,
        args: Vec<(String, String)>,
        topic: String,
        risk_tags: Vec<String>,
    ) -> Result<CustomMapping, MappingError> {
        let tool = glob(tool_glob).map_err(|reason| MappingError::BadToolGlob {
            glob: tool_glob.to_owned(),
            reason,
        })?;
        let server = match server_glob {
            Some(g) => Some(glob(g).map_err(|reason| MappingError::BadServerGlob {
                glob: g.to_owned(),
                reason,
            })?),
            None => None,
        };
        let mut compiled = Vec::with_capacity(args.len());
        for (key, re) in args {
            if key.is_empty() || key == "/" {
                return Err(MappingError::BadArgKey { key });
            }
            let regex = Regex::new(&re).map_err(|e| MappingError::BadArgRegex {
                key: key.clone(),
                reason: e.to_string(),
            })?;
            compiled.push((key, regex));
        }
        validate_topic(&topic)?;
        for tag in &risk_tags {
            let ok = !tag.is_empty()
                && tag
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
            if !ok {
                return Err(MappingError::BadRiskTag { tag: tag.clone() });
            }
        }
        Ok(CustomMapping {
            tool,
            server,
            args: compiled,
            topic,
            risk_tags,
        })
    }

    /// The full topic this mapping assigns.
    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// The risk tags this mapping assigns.
    pub fn risk_tags(&self) -> &[String] {
        &self.risk_tags
    }

    /// Whether this mapping decides the call.
    pub(crate) fn matches(&self, server: &str, tool: &str, args: &serde_json::Value) -> bool {
        if !self.tool.is_match(tool) {
            return false;
        }
        if let Some(s) = &self.server
            && !s.is_match(server)
        {
            return false;
        }
        self.args.iter().all(|(key, re)| {
            let value = if key.starts_with('/') {
                args.pointer(key)
            } else {
                args.get(key)
            };
            match value {
                None | Some(serde_json::Value::Null) => false,
                Some(serde_json::Value::String(s)) => re.is_match(s),
                Some(other) => re.is_match(&other.to_string()),
            }
        })
    }
}

fn glob(g: &str) -> Result<GlobMatcher, String> {
    if g.is_empty() {
        return Err("empty glob".to_owned());
    }
    GlobBuilder::new(g)
        .literal_separator(false)
        .build()
        .map(|g| g.compile_matcher())
        .map_err(|e| e.to_string())
}

fn validate_topic(topic: &str) -> Result<(), MappingError> {
    let bad = |reason: &str| MappingError::BadTopic {
        topic: topic.to_owned(),
        reason: reason.to_owned(),
    };
    let Some(rest) = topic.strip_prefix(TOPIC_PREFIX) else {
        return Err(bad(&format!("it must start with {TOPIC_PREFIX:?}")));
    };
    if rest.is_empty() {
        return Err(bad("nothing after the prefix"));
    }
    for token in rest.split('.') {
        if token.is_empty() {
            return Err(bad("empty token (two dots in a row or a trailing dot)"));
        }
        if token == "*" || token == ">" || token.contains(char::is_whitespace) {
            return Err(bad(
                "a topic is concrete: no '*', '>' or whitespace (those are for patterns)",
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn mapping(
        tool: &str,
        server: Option<&str>,
        args: &[(&str, &str)],
    ) -> Result<CustomMapping, MappingError> {
        CustomMapping::new(
            tool,
            server,
            args.iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            "job.mcp-bridge.deploy.prod".to_owned(),
            vec!["deploy".to_owned()],
        )
    }

    #[test]
    fn validation_names_the_field() {
        assert!(matches!(
            mapping("[", None, &[]),
            Err(MappingError::BadToolGlob { .. })
        ));
        assert!(matches!(
            mapping("x", Some("{a"), &[]),
            Err(MappingError::BadServerGlob { .. })
        ));
        assert!(matches!(
            mapping("x", None, &[("env", "(")]),
            Err(MappingError::BadArgRegex { .. })
        ));
        assert!(matches!(
            mapping("x", None, &[("", "a")]),
            Err(MappingError::BadArgKey { .. })
        ));
        for topic in [
            "read.file",
            "job.mcp-bridge.",
            "job.mcp-bridge.a..b",
            "job.mcp-bridge.a.*",
        ] {
            assert!(
                matches!(
                    CustomMapping::new("x", None, vec![], topic.to_owned(), vec![]),
                    Err(MappingError::BadTopic { .. })
                ),
                "{topic}"
            );
        }
        assert!(matches!(
            CustomMapping::new(
                "x",
                None,
                vec![],
                "job.mcp-bridge.a".to_owned(),
                vec!["bad tag".to_owned()]
            ),
            Err(MappingError::BadRiskTag { .. })
        ));
    }

    #[test]
    fn matching_table() -> Result<(), MappingError> {
        let m = mapping(
            "deploy_*",
            Some("ci*"),
            &[("env", "^prod$"), ("/opts/0", "fast")],
        )?;
        let args = json!({"env": "prod", "opts": ["fast"]});
        assert!(m.matches("ci-server", "deploy_app", &args));
        assert!(!m.matches("other", "deploy_app", &args));
        assert!(!m.matches("ci", "build", &args));
        assert!(!m.matches(
            "ci",
            "deploy_app",
            &json!({"env": "staging", "opts": ["fast"]})
        ));
        assert!(!m.matches("ci", "deploy_app", &json!({"opts": ["fast"]})));
        assert!(!m.matches("ci", "deploy_app", &json!(null)));
        let n = mapping("t", None, &[("count", "^3$")])?;
        assert!(n.matches("", "t", &json!({"count": 3})));
        Ok(())
    }
}
