//! Layering: a local policy on top of an organisation's policy can only make it stricter.
//!
//! "Stricter" is defined per call, on the decision order `allow` < `require_approval` < `deny`:
//! the organisation policy and the local policy are evaluated separately, each with its own rules
//! and default, on the same classification (the organisation's), and the call gets the stricter
//! of the two decisions (ties go to the organisation's verdict, so its rule is named). A local
//! `allow` rule therefore never lowers what the organisation decided: it only takes part in the
//! local evaluation. A local policy without `default_decision` has no opinion on calls its rules
//! do not match (it adds denials and approvals only); with one, that default applies too (an
//! explicit `default_decision: deny` turns the organisation's allowances into denials).
//!
//! The rest of the policy layers the same way: `limits` add up (both apply), each field of
//! `blast_radius` takes the stricter decision, and `paused`/`paused_agents` add up.
//!
//! Refused at load time, with a diagnostic naming the file and position:
//! - `classifiers`, `production`, `persistence` in the local policy: they change what a call *is*,
//!   and with it which organisation rules match (a custom classifier could turn `rm -rf` into a
//!   harmless topic). Classification belongs to the organisation policy.
//! - a local rule or limit id equal to an organisation one: evidence names the rule that won, and
//!   a limit's id keys its counters, so an id must say unambiguously whose rule it is.

use std::sync::Arc;

use crate::diag::{Diagnostic, DiagnosticKind, Pos, Severity};
use crate::eval::{self, CompiledRule};
use crate::{Classification, Decision, Policy, PolicyError, Source, ToolCall};

/// The local half of a layered policy.
#[derive(Debug)]
pub(crate) struct Overlay {
    rules: Vec<CompiledRule>,
    /// The local default: its own when set, else `allow` (no opinion).
    default: Decision,
    /// Whether the local policy set the default itself (it then names it in the reason).
    explicit_default: bool,
}

impl Overlay {
    /// The stricter of the organisation's verdict `org` (decision, rule, reason) and the local
    /// evaluation of the same call; ties keep the organisation's.
    pub(crate) fn stricter(
        &self,
        call: &ToolCall,
        classification: &Classification,
        org: (Decision, Option<String>, String),
    ) -> (Decision, Option<String>, String) {
        let ruling = eval::ruling_for_call(&self.rules, self.default, call, classification);
        if ruling.decision <= org.0 {
            return org;
        }
        match ruling.rule.map(|i| self.rules.get(i)) {
            Some(Some(rule)) => (ruling.decision, Some(rule.id.clone()), rule.reason.clone()),
            // An index that does not resolve cannot happen; refuse rather than pass.
            Some(None) => (
                Decision::Deny,
                None,
                "local policy: internal error resolving the winning rule".to_owned(),
            ),
            None => (
                ruling.decision,
                None,
                if self.explicit_default {
                    format!(
                        "no local rule matched; the local policy's default decision is {}",
                        ruling.decision
                    )
                } else {
                    format!("no rule matched; default decision {}", ruling.decision)
                },
            ),
        }
    }
}

impl Policy {
    /// `local` layered on top of `org` (see the module docs for what "stricter" means). The
    /// result evaluates both and takes the stricter decision per call; its version is
    /// `<org version>+local:<local version>` and its sources are both policies' sources. Errors
    /// name the local file and position of everything a local policy may not do.
    pub fn layered(org: Policy, local: Policy) -> Result<Policy, PolicyError> {
        let mut diagnostics = Vec::new();
        let first_local = local
            .sources
            .first()
            .map_or_else(|| "<local policy>".to_owned(), |s| s.name.clone());
        let mut refuse = |file: &str, pos: Pos, message: String, help: &str| {
            diagnostics.push(Diagnostic {
                file: file.to_owned(),
                line: pos.line,
                column: pos.column,
                severity: Severity::Error,
                kind: DiagnosticKind::Layering,
                message,
                help: Some(help.to_owned()),
            });
        };
        if org.overlay.is_some() || local.overlay.is_some() {
            refuse(
                &first_local,
                Pos::START,
                "a layered policy cannot be layered again".to_owned(),
                "layer one local policy on the organisation policy",
            );
        }
        for (file, pos, key) in &local.classifying {
            refuse(
                file,
                *pos,
                format!(
                    "a local policy layered on the organisation policy cannot set `{key}`: it \
                     changes how calls are classified, and with it which organisation rules match"
                ),
                "propose the change to the organisation policy repository; locally, add rules",
            );
        }
        for rule in &local.rules {
            if org.rules.iter().any(|o| o.id == rule.id) {
                refuse(
                    &first_local,
                    Pos::START,
                    format!(
                        "local rule id `{}` is already an organisation rule: evidence names the \
                         rule that decided, so ids must not be shared",
                        rule.id
                    ),
                    "give the local rule its own id (e.g. prefix it with `local-`)",
                );
            }
        }
        for limit in &local.limits {
            if org.limits.iter().any(|o| o.id == limit.id) {
                refuse(
                    &first_local,
                    Pos::START,
                    format!(
                        "local limit id `{}` is already an organisation limit: a limit's id keys \
                         its counters",
                        limit.id
                    ),
                    "give the local limit its own id (e.g. prefix it with `local-`)",
                );
            }
        }
        if !diagnostics.is_empty() {
            return Err(PolicyError { diagnostics });
        }
        let version = format!("{}+local:{}", org.version, local.version);
        let mut sources: Vec<Source> = org.sources;
        sources.extend(local.sources);
        let mut limits = org.limits;
        limits.extend(local.limits);
        let mut warnings = org.warnings;
        warnings.extend(local.warnings);
        let mut pause = org.pause;
        pause.all |= local.pause.all;
        pause.agents.extend(local.pause.agents);
        let blast_radius = crate::limits::BlastRadius {
            outside_roots: org
                .blast_radius
                .outside_roots
                .max(local.blast_radius.outside_roots),
            unknown_roots: org
                .blast_radius
                .unknown_roots
                .max(local.blast_radius.unknown_roots),
        };
        let overlay = Overlay {
            rules: local.rules,
            default: if local.default_explicit {
                local.default_decision
            } else {
                Decision::Allow
            },
            explicit_default: local.default_explicit,
        };
        Ok(Policy {
            version,
            sources,
            default_decision: org.default_decision,
            rules: org.rules,
            // The local tests judge the layered whole (what the user will get).
            tests: local.tests,
            classifier: org.classifier,
            warnings,
            limits,
            blast_radius,
            pause,
            default_explicit: org.default_explicit,
            classifying: org.classifying,
            overlay: Some(Arc::new(overlay)),
        })
    }

    /// Whether a local policy is layered on this one.
    pub fn is_layered(&self) -> bool {
        self.overlay.is_some()
    }

    /// The same policy under an externally given version: an organisation policy pulled from
    /// git is identified by the signed commit it was read from (`version` = the commit id).
    pub fn with_version(mut self, version: impl Into<String>) -> Policy {
        self.version = version.into();
        self
    }

    /// A policy that refuses every call with rule `rule_id` and `reason`, under version label
    /// `version` (plus the content hash, like any policy): what runs when no good policy is
    /// available yet (fail closed).
    pub fn refuse_all(rule_id: &str, reason: &str, version: &str) -> Result<Policy, PolicyError> {
        // JSON strings are YAML double-quoted scalars: the reason cannot break the document.
        let quote = |s: &str| serde_json::to_string(s).unwrap_or_else(|_| "\"\"".to_owned());
        let text = format!(
            "version: {}\ndefault_decision: deny\nrules:\n  - id: {}\n    decision: deny\n    reason: {}\n",
            quote(version),
            quote(rule_id),
            quote(reason)
        );
        Policy::from_sources(&[Source {
            name: "<no policy available>".to_owned(),
            text,
        }])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn policy(name: &str, text: &str) -> Policy {
        match Policy::from_sources(&[Source {
            name: name.into(),
            text: text.into(),
        }]) {
            Ok(p) => p,
            Err(e) => panic!("{name} does not load: {e}"),
        }
    }

    fn call(tool: &str, args: serde_json::Value) -> ToolCall {
        ToolCall {
            agent: "claude-code".into(),
            server: "shell".into(),
            tool: tool.into(),
            args,
        }
    }

    fn shell(command: &str) -> ToolCall {
        call("run_command", json!({ "command": command }))
    }

    const ORG: &str = r#"
version: org
default_decision: require_approval
rules:
  - id: org-allow-reads
    match: {topics: ["job.mcp-bridge.read.*"]}
    decision: allow
    reason: reads are fine
  - id: org-deny-secrets
    match: {topics: ["job.mcp-bridge.read.env", "job.mcp-bridge.read.secrets"]}
    decision: deny
    reason: no secrets
  - id: org-review-push
    match: {topics: ["job.mcp-bridge.git.push"]}
    decision: require_approval
    reason: pushes are reviewed
  - id: org-allow-status
    match: {topics: ["job.mcp-bridge.read.git"]}
    decision: allow
    reason: git status is fine
"#;

    fn layered(local: &str) -> Result<Policy, PolicyError> {
        Policy::layered(policy("org.yaml", ORG), policy("local.yaml", local))
    }

    fn must_layer(local: &str) -> Policy {
        match layered(local) {
            Ok(p) => p,
            Err(e) => panic!("local policy refused: {e}"),
        }
    }

    #[test]
    fn hostile_local_allow_rules_do_not_reallow_what_the_org_denies_or_reviews() {
        let org = policy("org.yaml", ORG);
        // Every way of saying "allow everything" a local policy has.
        let hostile = must_layer(
            r#"
version: mine
default_decision: allow
rules:
  - id: allow-everything
    decision: allow
    reason: I know better
  - id: allow-secrets
    match: {topics: ["job.mcp-bridge.read.env", "job.mcp-bridge.read.secrets", "job.mcp-bridge.>"]}
    decision: allow
    reason: trust me
  - id: allow-push
    match: {topics: ["job.mcp-bridge.git.push"], agents: ["*"], tools: ["*"]}
    decision: allow
    reason: ship it
"#,
        );
        let calls = [
            shell("cat .env"),
            shell("git push origin main"),
            shell("rm -rf build"),
            shell("cat README.md"),
            call("read_file", json!({"path": "a/../.env"})),
            call("write_file", json!({"path": "src/x.rs", "content": "x"})),
        ];
        for c in &calls {
            let o = org.evaluate(c);
            let l = hostile.evaluate(c);
            assert_eq!(
                l.decision, o.decision,
                "{c:?}: layering changed the org decision"
            );
            assert_eq!(l.rule_id, o.rule_id, "{c:?}: the org rule is named");
        }
        assert_eq!(
            hostile.evaluate(&shell("cat .env")).decision,
            Decision::Deny
        );
        assert_eq!(
            hostile.evaluate(&shell("git push origin main")).decision,
            Decision::RequireApproval
        );
        // The org's default (require_approval) is not lowered by a local allow default.
        assert_eq!(
            hostile.evaluate(&shell("rm -rf build")).decision,
            Decision::RequireApproval
        );
    }

    #[test]
    fn local_rules_add_denials_and_approvals() {
        let p = must_layer(
            r#"
version: mine
rules:
  - id: local-deny-readme
    match: {paths: ["**/README.md", "README.md"]}
    decision: deny
    reason: not that file
  - id: local-review-status
    match: {topics: ["job.mcp-bridge.read.git"]}
    decision: require_approval
    reason: even status is reviewed here
  - id: local-review-secrets
    match: {topics: ["job.mcp-bridge.read.env"]}
    decision: require_approval
    reason: weaker than the org's deny
"#,
        );
        let v = p.evaluate(&call("read_file", json!({"path": "README.md"})));
        assert_eq!(v.decision, Decision::Deny);
        assert_eq!(v.rule_id.as_deref(), Some("local-deny-readme"));
        assert_eq!(v.reason, "not that file");
        let v = p.evaluate(&shell("git status"));
        assert_eq!(v.decision, Decision::RequireApproval);
        assert_eq!(v.rule_id.as_deref(), Some("local-review-status"));
        // A weaker local rule leaves the org's stricter decision and rule.
        let v = p.evaluate(&shell("cat .env"));
        assert_eq!(v.decision, Decision::Deny);
        assert_eq!(v.rule_id.as_deref(), Some("org-deny-secrets"));
        // No local rule matches and the local policy has no default: the org decides.
        let v = p.evaluate(&call("read_file", json!({"path": "src/lib.rs"})));
        assert_eq!(v.decision, Decision::Allow);
        assert_eq!(v.rule_id.as_deref(), Some("org-allow-reads"));
        // A compound command: the local denial of one part wins over the org's allow of both.
        let v = p.evaluate(&shell("cat src/lib.rs && cat README.md"));
        assert_eq!(v.decision, Decision::Deny);
    }

    #[test]
    fn an_explicit_local_default_applies_too() {
        let p = must_layer("version: mine\ndefault_decision: deny\n");
        let v = p.evaluate(&call("read_file", json!({"path": "src/lib.rs"})));
        assert_eq!(v.decision, Decision::Deny);
        assert_eq!(v.rule_id, None);
        assert!(
            v.reason.contains("local policy's default decision is deny"),
            "{}",
            v.reason
        );
        // An explicit local `allow` default has no effect.
        let p = must_layer("version: mine\ndefault_decision: allow\n");
        assert_eq!(
            p.evaluate(&shell("rm -rf build")).decision,
            Decision::RequireApproval
        );
    }

    #[test]
    fn classification_keys_and_shared_ids_are_refused_with_positions() {
        // A custom classifier would turn `rm` into a read the org allows.
        let err = match layered(
            r#"
version: mine
classifiers:
  - tool: "run_command"
    topic: job.mcp-bridge.read.file
"#,
        ) {
            Ok(_) => panic!("a local classifier was accepted"),
            Err(e) => e,
        };
        let d = &err.diagnostics;
        assert_eq!(d.len(), 1, "{err}");
        assert_eq!(d[0].kind, DiagnosticKind::Layering);
        assert_eq!((d[0].file.as_str(), d[0].line), ("local.yaml", 4));
        assert!(d[0].message.contains("`classifiers`"), "{}", d[0].message);

        for key in [
            "production: {kube_contexts: [\"dev\"]}",
            "persistence: [\"**/.bashrc\"]",
        ] {
            let local = policy("local.yaml", &format!("version: mine\n{key}\n"));
            let Err(e) = Policy::layered(policy("org.yaml", ORG), local) else {
                panic!("{key} accepted in a local policy");
            };
            assert_eq!(e.diagnostics[0].kind, DiagnosticKind::Layering, "{e}");
        }

        let Err(e) = layered(
            "version: mine\nrules:\n  - id: org-deny-secrets\n    decision: allow\n    reason: shadow\n",
        ) else {
            panic!("a shared rule id was accepted");
        };
        assert!(e.to_string().contains("org-deny-secrets"), "{e}");
    }

    #[test]
    fn limits_blast_radius_and_pause_add_up() {
        let org = policy(
            "org.yaml",
            "version: org\nblast_radius: {outside_roots: require_approval, unknown_roots: allow}\n\
             limits:\n  - id: org-calls\n    max_tool_calls: 100\n",
        );
        let local = policy(
            "local.yaml",
            "version: mine\nblast_radius: {outside_roots: allow, unknown_roots: deny}\n\
             paused_agents: [\"cursor\"]\nlimits:\n  - id: local-calls\n    max_tool_calls: 5\n",
        );
        let p = match Policy::layered(org, local) {
            Ok(p) => p,
            Err(e) => panic!("{e}"),
        };
        assert_eq!(p.blast_radius().outside_roots, Decision::RequireApproval);
        assert_eq!(p.blast_radius().unknown_roots, Decision::Deny);
        let ids: Vec<&str> = p.limits().iter().map(|l| l.id.as_str()).collect();
        assert_eq!(ids, ["org-calls", "local-calls"]);
        assert!(p.pause().pauses("cursor"));
        assert!(!p.pause().pauses("claude-code"));
        // A local policy cannot unpause what the org paused.
        let org = policy("org.yaml", "version: org\npaused: true\n");
        let local = policy("local.yaml", "version: mine\npaused: false\n");
        let p = match Policy::layered(org, local) {
            Ok(p) => p,
            Err(e) => panic!("{e}"),
        };
        assert!(p.pause().pauses("claude-code"));
        let org = policy(
            "org.yaml",
            "version: org\nlimits:\n  - id: l\n    max_tool_calls: 1\n",
        );
        let local = policy(
            "local.yaml",
            "version: mine\nlimits:\n  - id: l\n    max_tool_calls: 1000\n",
        );
        assert!(Policy::layered(org, local).is_err(), "a shared limit id");
    }

    #[test]
    fn versions_and_the_refuse_all_policy() {
        let org = policy("org.yaml", ORG).with_version("0123456789abcdef0123456789abcdef01234567");
        assert_eq!(org.version(), "0123456789abcdef0123456789abcdef01234567");
        let local = policy("local.yaml", "version: mine\n");
        let local_version = local.version().to_owned();
        let p = match Policy::layered(org, local) {
            Ok(p) => p,
            Err(e) => panic!("{e}"),
        };
        assert!(p.is_layered());
        assert_eq!(
            p.version(),
            format!("0123456789abcdef0123456789abcdef01234567+local:{local_version}")
        );
        assert_eq!(p.evaluate(&shell("cat .env")).policy_version, p.version());

        let hostile_reason = "pull failed: \"quoted\"\nrules: [{id: x, decision: allow}]";
        let refuse = match Policy::refuse_all("org-policy-unavailable", hostile_reason, "none") {
            Ok(p) => p,
            Err(e) => panic!("{e}"),
        };
        for c in [shell("ls"), call("read_file", json!({"path": "x"}))] {
            let v = refuse.evaluate(&c);
            assert_eq!(v.decision, Decision::Deny);
            assert_eq!(v.rule_id.as_deref(), Some("org-policy-unavailable"));
            assert_eq!(v.reason, hostile_reason);
            assert!(
                v.policy_version.starts_with("none+"),
                "{}",
                v.policy_version
            );
        }
    }
}
