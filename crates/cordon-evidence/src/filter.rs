//! Query filters and the topic pattern they use.

use time::OffsetDateTime;

use crate::Outcome;

/// The prefix every gateway topic carries; patterns may leave it out (`git.*`).
pub use cordon_classify::TOPIC_PREFIX;
use cordon_classify::TopicPattern;

/// Which records a query, export or listing wants. Every field is optional; set fields combine
/// with AND. Default order is newest first.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Filter {
    /// Exact agent name.
    pub agent: Option<String>,
    /// Exact session id.
    pub session: Option<String>,
    /// Topic pattern, NATS style (the policy language's syntax): `*` matches exactly one
    /// dot-separated token, `>` one or more trailing tokens. Matched against the whole action and,
    /// for gateway topics, against the part after `job.mcp-bridge.` (so `git.*` works).
    pub action: Option<String>,
    /// Exact decision (`allow`, `deny`, `require_approval`).
    pub decision: Option<String>,
    /// Exact outcome.
    pub outcome: Option<Outcome>,
    /// Case-insensitive substring of the tool, the target or the reason (a viewer's search box).
    pub text: Option<String>,
    /// Records written at or after this time.
    pub since: Option<OffsetDateTime>,
    /// Records written strictly before this time.
    pub until: Option<OffsetDateTime>,
    /// At most this many records (None: all).
    pub limit: Option<usize>,
    /// Pagination cursor: continue after this seq in the chosen order (newest first: `seq <
    /// after_seq`; oldest first: `seq > after_seq`). Pass the last seq of the previous page.
    pub after_seq: Option<u64>,
    /// Oldest first instead of newest first (exports use this).
    pub oldest_first: bool,
}

/// Does a NATS-style pattern match a topic (also without the gateway prefix)? The matcher is
/// the policy language's (`cordon_classify::TopicPattern`); a pattern it refuses (`git.>.x`,
/// an empty token) matches nothing.
pub fn action_matches(pattern: &str, action: &str) -> bool {
    let Ok(pattern) = TopicPattern::parse(pattern) else {
        return false;
    };
    pattern.matches(action)
        || action
            .strip_prefix(TOPIC_PREFIX)
            .is_some_and(|rest| pattern.matches(rest))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nats_patterns() {
        let cases = [
            ("git.*", "job.mcp-bridge.git.push", true),
            ("git.*", "git.push", true),
            ("git.*", "job.mcp-bridge.git.push.x", false),
            ("job.mcp-bridge.>", "job.mcp-bridge.git.push", true),
            ("job.mcp-bridge.>", "job.mcp-bridge", false),
            ("read.>", "job.mcp-bridge.read.env", true),
            ("*.push", "job.mcp-bridge.git.push", true),
            ("*", "job.mcp-bridge.git.push", false),
            (">", "anything.at.all", true),
            ("git.push", "job.mcp-bridge.git.push", true),
            ("git.push", "job.mcp-bridge.git.force-push", false),
            ("git.>.x", "git.a.x", false),
            ("write.file", "job.mcp-bridge.write.file", true),
            ("write.file", "xjob.mcp-bridge.write.file", false),
        ];
        for (pattern, topic, expected) in cases {
            assert_eq!(
                action_matches(pattern, topic),
                expected,
                "{pattern} vs {topic}"
            );
        }
    }
}
