//! NATS-style topic patterns: `*` matches exactly one token, `>` one or more trailing tokens.
//!
//! The one matcher for topics: the policy's `match.topics` and the evidence log's `--action`
//! filter both use it. It lives with the topics themselves (this crate names them) because
//! neither the policy nor the evidence crate may depend on the other.
//!
//! Patterns are compiled once at load; matching walks the topic's tokens without allocating.

use std::fmt;

/// One token of a compiled pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    Lit(String),
    /// `*`: exactly one token.
    One,
    /// `>`: one or more tokens; only last.
    Rest,
}

/// A compiled topic pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicPattern {
    source: String,
    toks: Vec<Tok>,
    /// No wildcard at all: matching is string equality.
    literal: bool,
}

/// Why a pattern was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatternError {
    /// What is wrong.
    pub message: String,
    /// How to fix it.
    pub help: Option<String>,
}

impl TopicPattern {
    /// Compiles a pattern. Tokens are separated by `.`; `*` and `>` must be whole tokens and `>`
    /// may only be the last token; tokens are never empty and contain no whitespace.
    pub fn parse(pattern: &str) -> Result<TopicPattern, PatternError> {
        if pattern.is_empty() {
            return Err(PatternError {
                message: "empty topic pattern".into(),
                help: Some("write a topic such as `job.mcp-bridge.read.*`".into()),
            });
        }
        let parts: Vec<&str> = pattern.split('.').collect();
        let last = parts.len().saturating_sub(1);
        let mut toks = Vec::with_capacity(parts.len());
        for (i, part) in parts.iter().enumerate() {
            let tok = match *part {
                "" => {
                    return Err(PatternError {
                        message: format!("empty token in topic pattern `{pattern}`"),
                        help: Some(
                            "tokens are separated by single dots, with none at either end".into(),
                        ),
                    });
                }
                "*" => Tok::One,
                ">" if i == last => Tok::Rest,
                ">" => {
                    return Err(PatternError {
                        message: format!("`>` must be the last token in topic pattern `{pattern}`"),
                        help: Some("use `*` to match exactly one token in the middle".into()),
                    });
                }
                lit if lit.contains(['*', '>']) => {
                    return Err(PatternError {
                        message: format!(
                            "wildcard inside token `{lit}` in topic pattern `{pattern}`"
                        ),
                        help: Some(
                            "`*` and `>` match whole tokens only, e.g. `job.mcp-bridge.read.*`"
                                .into(),
                        ),
                    });
                }
                lit if lit.chars().any(char::is_whitespace) => {
                    return Err(PatternError {
                        message: format!("whitespace in topic pattern `{pattern}`"),
                        help: None,
                    });
                }
                lit => Tok::Lit(lit.to_owned()),
            };
            toks.push(tok);
        }
        let literal = toks.iter().all(|t| matches!(t, Tok::Lit(_)));
        Ok(TopicPattern {
            source: pattern.to_owned(),
            toks,
            literal,
        })
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// Whether `topic` matches this pattern.
    pub fn matches(&self, topic: &str) -> bool {
        if self.literal {
            return self.source == topic;
        }
        let mut tokens = topic.split('.');
        for tok in &self.toks {
            match tok {
                Tok::Rest => return tokens.next().is_some(),
                Tok::One => {
                    if tokens.next().is_none() {
                        return false;
                    }
                }
                Tok::Lit(lit) => {
                    if tokens.next() != Some(lit.as_str()) {
                        return false;
                    }
                }
            }
        }
        tokens.next().is_none()
    }

    /// Whether some topic matches both patterns (used to warn about patterns that can match no
    /// known topic).
    pub fn intersects(&self, other: &TopicPattern) -> bool {
        intersect(&self.toks, &other.toks)
    }
}

fn intersect(a: &[Tok], b: &[Tok]) -> bool {
    match (a.split_first(), b.split_first()) {
        (None, None) => true,
        (None, Some(_)) | (Some(_), None) => false,
        (Some((Tok::Rest, _)), Some(_)) | (Some(_), Some((Tok::Rest, _))) => true,
        (Some((x, a_rest)), Some((y, b_rest))) => {
            let compatible = match (x, y) {
                (Tok::Lit(p), Tok::Lit(q)) => p == q,
                _ => true,
            };
            compatible && intersect(a_rest, b_rest)
        }
    }
}

impl fmt::Display for TopicPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The obviously-correct reference: recursion on token slices, straight from the definition.
    fn reference(pattern: &[&str], topic: &[&str]) -> bool {
        match (pattern.split_first(), topic.split_first()) {
            (None, None) => true,
            (Some((&">", rest)), Some(_)) => rest.is_empty(),
            (Some((&"*", p)), Some((_, t))) => reference(p, t),
            (Some((lit, p)), Some((tok, t))) => lit == tok && reference(p, t),
            _ => false,
        }
    }

    fn check(pattern: &str, topic: &str, expected: bool) {
        let compiled = TopicPattern::parse(pattern).unwrap();
        assert_eq!(compiled.matches(topic), expected, "{pattern} vs {topic}");
    }

    #[test]
    fn table() {
        for (pattern, topic, expected) in [
            ("job.mcp-bridge.read.*", "job.mcp-bridge.read.env", true),
            ("job.mcp-bridge.read.*", "job.mcp-bridge.read", false),
            ("job.mcp-bridge.read.*", "job.mcp-bridge.read.a.b", false),
            ("job.mcp-bridge.>", "job.mcp-bridge.read.a.b", true),
            ("job.mcp-bridge.>", "job.mcp-bridge", false),
            (
                "job.mcp-bridge.*.destroy",
                "job.mcp-bridge.infra.destroy",
                true,
            ),
            ("job.mcp-bridge.*.delete", "job.mcp-bridge.k8s.delete", true),
            (
                "job.mcp-bridge.*.delete",
                "job.mcp-bridge.write.remove",
                false,
            ),
            ("job.mcp-bridge.git.push", "job.mcp-bridge.git.push", true),
            ("job.mcp-bridge.git.push", "job.mcp-bridge.git.pushx", false),
            (">", "a", true),
            ("*", "a.b", false),
            ("*.>", "a.b", true),
        ] {
            check(pattern, topic, expected);
        }
    }

    #[test]
    fn malformed_patterns() {
        for bad in ["", "a..b", ".a", "a.", "a.>.b", "a*", "read.f>", "a b"] {
            assert!(
                TopicPattern::parse(bad).is_err(),
                "{bad:?} should be refused"
            );
        }
    }

    #[test]
    fn intersection() {
        let p = |s: &str| TopicPattern::parse(s).unwrap();
        assert!(p("job.mcp-bridge.*.destroy").intersects(&p("job.mcp-bridge.infra.destroy")));
        assert!(p("job.mcp-bridge.tool.github.x").intersects(&p("job.mcp-bridge.tool.>")));
        assert!(!p("read.*").intersects(&p("job.mcp-bridge.read.file")));
        assert!(!p("job.mcp-bridge.read.*.x").intersects(&p("job.mcp-bridge.read.file")));
        assert!(p(">").intersects(&p("a.b.c")));
    }

    fn token() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("a".to_owned()),
            Just("b".to_owned()),
            Just("read".to_owned()),
            Just("*".to_owned()),
            Just(">".to_owned()),
        ]
    }

    proptest! {
        #[test]
        fn compiled_matcher_agrees_with_reference(
            pattern in prop::collection::vec(token(), 1..6),
            topic in prop::collection::vec(prop_oneof![Just("a"), Just("b"), Just("read")], 1..7),
        ) {
            let pattern_text = pattern.join(".");
            let topic_text = topic.join(".");
            let pattern_refs: Vec<&str> = pattern.iter().map(String::as_str).collect();
            match TopicPattern::parse(&pattern_text) {
                Ok(compiled) => {
                    prop_assert_eq!(compiled.matches(&topic_text), reference(&pattern_refs, &topic));
                }
                Err(_) => {
                    // Only a `>` that is not last is refused among these tokens.
                    let gt = pattern_refs.iter().position(|t| *t == ">");
                    prop_assert!(gt.is_some_and(|i| i + 1 < pattern_refs.len()));
                }
            }
        }

        #[test]
        fn intersection_is_sound(
            a in prop::collection::vec(token(), 1..5),
            topic in prop::collection::vec(prop_oneof![Just("a"), Just("b"), Just("read")], 1..6),
        ) {
            // If a concrete topic matches the pattern, the pattern intersects the literal topic.
            if let (Ok(p), Ok(t)) = (TopicPattern::parse(&a.join(".")), TopicPattern::parse(&topic.join("."))) {
                if p.matches(&topic.join(".")) {
                    prop_assert!(p.intersects(&t));
                } else {
                    prop_assert!(!p.intersects(&t));
                }
            }
        }
    }
}
