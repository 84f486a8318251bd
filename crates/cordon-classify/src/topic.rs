//! The topic taxonomy (DESIGN.md), default risk tags per topic and the strictness ranking.
//!
//! Topics inside the crate are handled in their short form (`read.file`); the public
//! [`crate::Classification`] carries the full form with [`crate::TOPIC_PREFIX`].

use crate::TOPIC_PREFIX;

/// A file's contents were read.
pub(crate) const READ_FILE: &str = "read.file";
/// A directory was listed.
pub(crate) const READ_DIR: &str = "read.dir";
/// Files were searched (grep, find).
pub(crate) const READ_SEARCH: &str = "read.search";
/// Git history or state was read.
pub(crate) const READ_GIT: &str = "read.git";
/// Something was read from the network (a web page, a GitHub API read).
pub(crate) const READ_WEB: &str = "read.web";
/// Dotenv files or environment dumps.
pub(crate) const READ_ENV: &str = "read.env";
/// Keys, credential files, keychains, cloud credentials.
pub(crate) const READ_SECRETS: &str = "read.secrets";
/// A file was created or modified.
pub(crate) const WRITE_FILE: &str = "write.file";
/// A file was moved or renamed.
pub(crate) const WRITE_MOVE: &str = "write.move";
/// A file or directory was removed.
pub(crate) const WRITE_REMOVE: &str = "write.remove";
/// A directory was created.
pub(crate) const WRITE_MKDIR: &str = "write.mkdir";
/// A commit was made.
pub(crate) const GIT_COMMIT: &str = "git.commit";
/// Something was published to a remote repository.
pub(crate) const GIT_PUSH: &str = "git.push";
/// A push that overwrites or deletes remote history or branches.
pub(crate) const GIT_FORCE_PUSH: &str = "git.force-push";
/// Local history was rewritten (rebase, reset --hard, amend, filter-branch).
pub(crate) const GIT_HISTORY_REWRITE: &str = "git.history-rewrite";
/// A command that is not classified further.
pub(crate) const EXEC_SHELL: &str = "exec.shell";
/// Infrastructure destruction (terraform destroy and friends).
pub(crate) const INFRA_DESTROY: &str = "infra.destroy";
/// Kubernetes resources deleted.
pub(crate) const K8S_DELETE: &str = "k8s.delete";
/// Cloud resources deleted (aws, gcloud, az).
pub(crate) const CLOUD_DELETE: &str = "cloud.delete";
/// A database, table or its rows dropped.
pub(crate) const DB_DROP: &str = "db.drop";
/// A dependency added or installed.
pub(crate) const DEPS_ADD: &str = "deps.add";
/// Something fetched from the network by a command.
pub(crate) const NET_FETCH: &str = "net.fetch";

/// Cordon's own state (config, policies, evidence, keys, agent hook files) was touched.
pub(crate) const CORDON_STATE: &str = "cordon.state";
/// A command that drives Cordon (`cordon approve`, `sqlite3` on the evidence, `pkill cordon`).
pub(crate) const CORDON_CONTROL: &str = "cordon.control";

/// Risk tag: writes a place that runs code later (git hooks and config, shell rc files...).
pub(crate) const TAG_PERSISTENCE: &str = "persistence";
/// Risk tag: a persistence target that runs without anyone opening anything.
pub(crate) const TAG_PERSISTENCE_SILENT: &str = "persistence-silent";
/// Risk tag: a delete that wipes a whole tree (`rm -rf /`, `~`, the workspace root).
pub(crate) const TAG_CATASTROPHIC: &str = "catastrophic";

/// Risk tag: changes code or files in the workspace.
pub(crate) const TAG_CODE_CHANGE: &str = "code-change";
/// Risk tag: publishes something beyond the machine.
pub(crate) const TAG_DEPLOY: &str = "deploy";
/// Risk tag: hard or impossible to undo.
pub(crate) const TAG_DESTRUCTIVE: &str = "destructive";
/// Risk tag: touches infrastructure.
pub(crate) const TAG_INFRASTRUCTURE: &str = "infrastructure";
/// Risk tag: touches secrets.
pub(crate) const TAG_CREDENTIALS: &str = "credentials";
/// Risk tag: brings in third-party code.
pub(crate) const TAG_DEPENDENCY: &str = "dependency";
/// Risk tag: talks to the network.
pub(crate) const TAG_NETWORK: &str = "network";
/// Risk tag: targets something the user declared production (kube context, branch...).
pub(crate) const TAG_PRODUCTION: &str = "production";
/// Risk tag: runs arbitrary code.
pub(crate) const TAG_EXEC: &str = "exec";

/// Every topic of the taxonomy in full form, except the open-ended `tool.<server>.<tool>`.
/// Policy tooling uses it to warn about patterns that can never match.
pub const KNOWN_TOPICS: &[&str] = &[
    "job.mcp-bridge.read.file",
    "job.mcp-bridge.read.dir",
    "job.mcp-bridge.read.search",
    "job.mcp-bridge.read.git",
    "job.mcp-bridge.read.web",
    "job.mcp-bridge.read.env",
    "job.mcp-bridge.read.secrets",
    "job.mcp-bridge.write.file",
    "job.mcp-bridge.write.move",
    "job.mcp-bridge.write.remove",
    "job.mcp-bridge.write.mkdir",
    "job.mcp-bridge.git.commit",
    "job.mcp-bridge.git.push",
    "job.mcp-bridge.git.force-push",
    "job.mcp-bridge.git.history-rewrite",
    "job.mcp-bridge.exec.shell",
    "job.mcp-bridge.infra.destroy",
    "job.mcp-bridge.k8s.delete",
    "job.mcp-bridge.cloud.delete",
    "job.mcp-bridge.db.drop",
    "job.mcp-bridge.deps.add",
    "job.mcp-bridge.net.fetch",
    "job.mcp-bridge.cordon.state",
    "job.mcp-bridge.cordon.control",
];

/// Every risk tag the classifier emits (`production` when the policy declares targets), so
/// policy tooling can flag a misspelt tag.
pub const KNOWN_RISK_TAGS: &[&str] = &[
    "code-change",
    "deploy",
    "destructive",
    "infrastructure",
    "credentials",
    "dependency",
    "network",
    "exec",
    "production",
    "persistence",
    "persistence-silent",
    "catastrophic",
];

/// Strictness of a topic (full or short form): the compound command's topic is the part with
/// the highest value. Reads rank lowest, secrets and destruction highest, unknown tools (and
/// any topic outside the taxonomy) in the middle next to `exec.shell`.
pub fn topic_severity(topic: &str) -> u8 {
    let short = topic.strip_prefix(TOPIC_PREFIX).unwrap_or(topic);
    match short {
        READ_FILE | READ_DIR | READ_SEARCH => 10,
        READ_GIT => 11,
        READ_WEB => 15,
        NET_FETCH => 30,
        WRITE_MKDIR => 40,
        WRITE_FILE => 45,
        WRITE_MOVE => 50,
        GIT_COMMIT => 55,
        DEPS_ADD => 60,
        EXEC_SHELL => 65,
        GIT_PUSH => 70,
        WRITE_REMOVE => 75,
        GIT_HISTORY_REWRITE => 80,
        GIT_FORCE_PUSH => 85,
        DB_DROP => 90,
        CLOUD_DELETE => 91,
        K8S_DELETE => 92,
        INFRA_DESTROY => 95,
        CORDON_STATE => 96,
        CORDON_CONTROL => 97,
        READ_ENV => 99,
        READ_SECRETS => 100,
        _ => 65,
    }
}

/// The risk tags every part with this (short) topic carries.
pub(crate) fn default_tags(short: &str) -> &'static [&'static str] {
    match short {
        READ_ENV | READ_SECRETS => &[TAG_CREDENTIALS],
        READ_WEB | NET_FETCH => &[TAG_NETWORK],
        WRITE_FILE | WRITE_MOVE | WRITE_MKDIR | GIT_COMMIT => &[TAG_CODE_CHANGE],
        WRITE_REMOVE | GIT_HISTORY_REWRITE => &[TAG_CODE_CHANGE, TAG_DESTRUCTIVE],
        GIT_PUSH => &[TAG_DEPLOY],
        GIT_FORCE_PUSH => &[TAG_DEPLOY, TAG_DESTRUCTIVE],
        EXEC_SHELL => &[TAG_EXEC],
        INFRA_DESTROY | K8S_DELETE | CLOUD_DELETE => &[TAG_DESTRUCTIVE, TAG_INFRASTRUCTURE],
        DB_DROP => &[TAG_DESTRUCTIVE],
        DEPS_ADD => &[TAG_DEPENDENCY],
        _ => &[],
    }
}

/// Full topic of an unknown tool: `tool.<server>.<tool>`, with characters that would break
/// NATS-style matching (`.`, `*`, `>`, whitespace) replaced by `_`, and `_` for empty names.
pub(crate) fn tool_topic(server: &str, tool: &str) -> String {
    format!("tool.{}.{}", sanitize_token(server), sanitize_token(tool))
}

fn sanitize_token(raw: &str) -> String {
    let s: String = raw
        .chars()
        .map(|c| {
            if c == '.' || c == '*' || c == '>' || c.is_whitespace() || c.is_control() {
                '_'
            } else {
                c
            }
        })
        .collect();
    if s.is_empty() { "_".to_owned() } else { s }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_rank_below_everything_and_secrets_above() {
        let order = [
            READ_FILE,
            READ_WEB,
            NET_FETCH,
            WRITE_FILE,
            EXEC_SHELL,
            GIT_PUSH,
            WRITE_REMOVE,
            GIT_FORCE_PUSH,
            INFRA_DESTROY,
            READ_SECRETS,
        ];
        for pair in order.windows(2) {
            if let [a, b] = pair {
                assert!(topic_severity(a) < topic_severity(b), "{a} < {b}");
            }
        }
        assert_eq!(topic_severity("tool.x.y"), topic_severity(EXEC_SHELL));
        assert_eq!(
            topic_severity("job.mcp-bridge.read.env"),
            topic_severity(READ_ENV)
        );
    }

    #[test]
    fn every_known_topic_is_ranked_and_prefixed() {
        for t in KNOWN_TOPICS {
            assert!(t.starts_with(TOPIC_PREFIX));
            let short = t.trim_start_matches(TOPIC_PREFIX);
            assert!(
                short == EXEC_SHELL || topic_severity(t) != 65,
                "{t} falls to default"
            );
        }
    }

    #[test]
    fn tool_topic_sanitises_names() {
        assert_eq!(tool_topic("my.srv", "a b*>c"), "tool.my_srv.a_b__c");
        assert_eq!(tool_topic("", "x"), "tool._.x");
        assert_eq!(tool_topic("s", ""), "tool.s._");
    }
}
