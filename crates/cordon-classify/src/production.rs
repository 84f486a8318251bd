//! Staging versus production: which calls target something the user declared as production.
//!
//! The user lists production targets by kind (kube contexts, terraform workspaces, cloud
//! profiles, database hosts, git branches...) as globs. The classifier reads the targets a
//! command names (`kubectl --context prod`, `terraform -chdir=infra workspace select prod`,
//! `AWS_PROFILE=prod aws ...`, `git push origin main`, `psql -h db.prod`) and the usual argument
//! names of non-shell tools (`context`, `namespace`, `branch`...), and a call that names a
//! production target gets the `production` risk tag. Globs match case-insensitively: a
//! production context spelt `PROD` is still production (fail closed).
//!
//! What is not seen: a target only known at run time (the current kube context, the current git
//! branch of a bare `git push`, a profile set in a config file). Policies that must never touch
//! production should also gate the topics themselves (`k8s.delete`, `git.push`, ...).

use std::fmt;

use globset::{GlobBuilder, GlobSet, GlobSetBuilder};
use serde_json::Value;

use crate::shell::args::program_name;

/// A kind of production target, one list each in a policy's `production:` section.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TargetKind {
    /// `kubectl --context`, `helm --kube-context`, `kubectl config use-context`, `kubectx`.
    KubeContext,
    /// `kubectl -n/--namespace`, `kubens`.
    KubeNamespace,
    /// `terraform workspace select|new`, `TF_WORKSPACE`, pulumi `--stack`/`stack select`.
    TerraformWorkspace,
    /// `aws --profile`/`AWS_PROFILE`, `gcloud --configuration`.
    CloudProfile,
    /// AWS account ids (in ARNs, `--account-id`), `gcloud --project`, `az --subscription`.
    CloudAccount,
    /// `psql/mysql/... -h HOST`, connection URLs, `PGHOST`.
    DatabaseHost,
    /// The remote of `git push`.
    GitRemote,
    /// The destination branch of `git push` (`main`, `release/*`).
    GitBranch,
}

impl TargetKind {
    /// Every kind, in the order of the policy keys.
    pub const ALL: [TargetKind; 8] = [
        TargetKind::KubeContext,
        TargetKind::KubeNamespace,
        TargetKind::TerraformWorkspace,
        TargetKind::CloudProfile,
        TargetKind::CloudAccount,
        TargetKind::DatabaseHost,
        TargetKind::GitRemote,
        TargetKind::GitBranch,
    ];

    /// The policy key listing targets of this kind.
    pub fn key(self) -> &'static str {
        match self {
            TargetKind::KubeContext => "kube_contexts",
            TargetKind::KubeNamespace => "kube_namespaces",
            TargetKind::TerraformWorkspace => "terraform_workspaces",
            TargetKind::CloudProfile => "cloud_profiles",
            TargetKind::CloudAccount => "cloud_accounts",
            TargetKind::DatabaseHost => "database_hosts",
            TargetKind::GitRemote => "git_remotes",
            TargetKind::GitBranch => "git_branches",
        }
    }

    /// The kind a policy key names.
    pub fn from_key(key: &str) -> Option<TargetKind> {
        TargetKind::ALL.into_iter().find(|k| k.key() == key)
    }

    fn index(self) -> usize {
        TargetKind::ALL
            .iter()
            .position(|k| *k == self)
            .unwrap_or_default()
    }

    fn describe(self) -> &'static str {
        match self {
            TargetKind::KubeContext => "kube context",
            TargetKind::KubeNamespace => "kube namespace",
            TargetKind::TerraformWorkspace => "terraform workspace",
            TargetKind::CloudProfile => "cloud profile",
            TargetKind::CloudAccount => "cloud account",
            TargetKind::DatabaseHost => "database host",
            TargetKind::GitRemote => "git remote",
            TargetKind::GitBranch => "git branch",
        }
    }
}

impl fmt::Display for TargetKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.describe())
    }
}

/// A target a call names: its kind and value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// What kind of target.
    pub kind: TargetKind,
    /// The name as written in the call.
    pub value: String,
}

/// A production glob that does not compile.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {kind} glob `{glob}`: {message}")]
pub struct ProductionError {
    /// The list it is in.
    pub kind: TargetKind,
    /// The glob.
    pub glob: String,
    /// What is wrong.
    pub message: String,
}

/// The user's production targets, compiled.
#[derive(Debug, Clone, Default)]
pub struct ProductionTargets {
    sets: [Option<GlobSet>; 8],
}

impl ProductionTargets {
    /// Compiles the lists (kind → globs). An empty list declares nothing.
    pub fn new<'a, I>(lists: I) -> Result<ProductionTargets, ProductionError>
    where
        I: IntoIterator<Item = (TargetKind, &'a [String])>,
    {
        let mut out = ProductionTargets::default();
        for (kind, globs) in lists {
            if globs.is_empty() {
                continue;
            }
            let mut builder = GlobSetBuilder::new();
            for glob in globs {
                let g = GlobBuilder::new(glob)
                    .case_insensitive(true)
                    .literal_separator(false)
                    .build()
                    .map_err(|e| ProductionError {
                        kind,
                        glob: glob.clone(),
                        message: e.kind().to_string(),
                    })?;
                builder.add(g);
            }
            let set = builder.build().map_err(|e| ProductionError {
                kind,
                glob: globs.join(", "),
                message: e.kind().to_string(),
            })?;
            if let Some(slot) = out.sets.get_mut(kind.index()) {
                *slot = Some(set);
            }
        }
        Ok(out)
    }

    /// Whether no target is declared (the scan is skipped).
    pub fn is_empty(&self) -> bool {
        self.sets.iter().all(Option::is_none)
    }

    /// Whether `target` is declared production.
    pub fn is_production(&self, target: &Target) -> bool {
        self.sets
            .get(target.kind.index())
            .and_then(Option::as_ref)
            .is_some_and(|set| set.is_match(&target.value))
    }

    /// The production targets among `targets`, described for diagnostics.
    pub(crate) fn hits(&self, targets: &[Target]) -> Vec<String> {
        targets
            .iter()
            .filter(|t| self.is_production(t))
            .map(|t| format!("production target: {} `{}`", t.kind, t.value))
            .collect()
    }
}

/// Programs whose targets are read, after wrappers (`sudo`, `env`, `time`...).
const PROGRAMS: &[&str] = &[
    "kubectl",
    "oc",
    "helm",
    "kubectx",
    "kubens",
    "terraform",
    "tofu",
    "terragrunt",
    "pulumi",
    "aws",
    "gcloud",
    "az",
    "psql",
    "pg_dump",
    "pg_restore",
    "pg_dumpall",
    "mysql",
    "mysqldump",
    "mariadb",
    "mongo",
    "mongosh",
    "redis-cli",
    "clickhouse-client",
    "cockroach",
    "git",
];

/// The value of `--name X` or `--name=X` at `argv[i]` (and how many words it used).
fn option_value<'a>(argv: &'a [String], i: usize, names: &[&str]) -> Option<(&'a str, usize)> {
    let word = argv.get(i)?.as_str();
    for name in names {
        if word == *name {
            return argv.get(i + 1).map(|v| (v.as_str(), 2));
        }
        if let Some(rest) = word.strip_prefix(name) {
            if let Some(v) = rest.strip_prefix('=') {
                return Some((v, 1));
            }
            // `-nprod` for single-letter short options.
            if name.len() == 2 && !name.starts_with("--") && !rest.is_empty() {
                return Some((rest, 1));
            }
        }
    }
    None
}

fn push(out: &mut Vec<Target>, kind: TargetKind, value: &str) {
    let value = value.trim_matches(|c| c == '"' || c == '\'');
    if value.is_empty() || value.len() > 1024 {
        return;
    }
    let t = Target {
        kind,
        value: value.to_owned(),
    };
    if !out.contains(&t) {
        out.push(t);
    }
}

/// Environment assignments (`NAME=value`) that name a target.
fn env_targets(assign: &str, out: &mut Vec<Target>) {
    let Some((name, value)) = assign.split_once('=') else {
        return;
    };
    let kind = match name {
        "AWS_PROFILE" | "AWS_DEFAULT_PROFILE" | "CLOUDSDK_ACTIVE_CONFIG_NAME" => {
            TargetKind::CloudProfile
        }
        "CLOUDSDK_CORE_PROJECT" | "GOOGLE_CLOUD_PROJECT" | "AZURE_SUBSCRIPTION_ID" => {
            TargetKind::CloudAccount
        }
        "TF_WORKSPACE" | "PULUMI_STACK" => TargetKind::TerraformWorkspace,
        "PGHOST" | "MYSQL_HOST" | "DB_HOST" | "DATABASE_HOST" => TargetKind::DatabaseHost,
        "DATABASE_URL" => {
            if let Some(host) = url_host(value) {
                push(out, TargetKind::DatabaseHost, &host);
            }
            return;
        }
        "KUBECONTEXT" | "KUBE_CONTEXT" => TargetKind::KubeContext,
        "KUBE_NAMESPACE" => TargetKind::KubeNamespace,
        _ => return,
    };
    push(out, kind, value);
}

/// The host of `scheme://[user[:pw]@]host[:port][/...]`.
fn url_host(text: &str) -> Option<String> {
    let (_, rest) = text.split_once("://")?;
    let authority = rest.split(['/', '?', '#']).next()?;
    let host_port = authority.rsplit('@').next()?;
    let host = if let Some(v6) = host_port.strip_prefix('[') {
        v6.split(']').next()?
    } else {
        host_port.split(':').next()?
    };
    (!host.is_empty()).then(|| host.to_owned())
}

/// AWS account ids inside ARNs (`arn:aws:iam::123456789012:role/x`).
fn arn_accounts(word: &str, out: &mut Vec<Target>) {
    for arn in word.split(|c: char| c.is_whitespace() || c == ',' || c == '"') {
        if !arn.starts_with("arn:") {
            continue;
        }
        if let Some(account) = arn.split(':').nth(4)
            && account.len() == 12
            && account.bytes().all(|b| b.is_ascii_digit())
        {
            push(out, TargetKind::CloudAccount, account);
        }
    }
}

/// The targets a simple command names: `assigns` are its `NAME=value` prefixes, `argv` the
/// words (wrappers included: the program is found after them).
pub fn command_targets(assigns: &[String], argv: &[String]) -> Vec<Target> {
    let mut out = Vec::new();
    for a in assigns {
        env_targets(a, &mut out);
    }
    // Skip wrappers and `env NAME=value` words up to the first program we know.
    let mut start = None;
    for (i, word) in argv.iter().enumerate() {
        if word.contains('=') && !word.starts_with('-') {
            env_targets(word, &mut out);
            continue;
        }
        if PROGRAMS.contains(&program_name(word).as_str()) {
            start = Some(i);
            break;
        }
    }
    let Some(start) = start else {
        return out;
    };
    let prog = argv.get(start).map(|p| program_name(p)).unwrap_or_default();
    let args = argv.get(start + 1..).unwrap_or(&[]);
    for word in args {
        arn_accounts(word, &mut out);
    }
    match prog.as_str() {
        "kubectl" | "oc" | "helm" => kube(args, &mut out),
        "kubectx" => {
            if let Some(ctx) = args.iter().find(|a| !a.starts_with('-')) {
                push(&mut out, TargetKind::KubeContext, ctx);
            }
        }
        "kubens" => {
            if let Some(ns) = args.iter().find(|a| !a.starts_with('-')) {
                push(&mut out, TargetKind::KubeNamespace, ns);
            }
        }
        "terraform" | "tofu" | "terragrunt" | "pulumi" => iac(args, &mut out),
        "aws" | "gcloud" | "az" => cloud(args, &mut out),
        "git" => git(args, &mut out),
        _ => database(args, &mut out),
    }
    out
}

fn kube(args: &[String], out: &mut Vec<Target>) {
    let mut i = 0;
    let mut positionals: Vec<&str> = Vec::new();
    while i < args.len() {
        if let Some((v, used)) = option_value(args, i, &["--context", "--kube-context"]) {
            push(out, TargetKind::KubeContext, v);
            i += used;
        } else if let Some((v, used)) = option_value(args, i, &["--namespace", "-n"]) {
            push(out, TargetKind::KubeNamespace, v);
            i += used;
        } else {
            if let Some(a) = args.get(i)
                && !a.starts_with('-')
            {
                positionals.push(a);
            }
            i += 1;
        }
    }
    // `kubectl config use-context prod`, `set-context prod`.
    if let [first, second, name, ..] = positionals.as_slice()
        && *first == "config"
        && matches!(*second, "use-context" | "set-context" | "use")
    {
        push(out, TargetKind::KubeContext, name);
    }
}

fn iac(args: &[String], out: &mut Vec<Target>) {
    let mut positionals: Vec<&str> = Vec::new();
    let mut i = 0;
    while i < args.len() {
        if let Some((v, used)) = option_value(args, i, &["--stack", "-s"]) {
            push(out, TargetKind::TerraformWorkspace, v);
            i += used;
            continue;
        }
        if let Some(a) = args.get(i)
            && !a.starts_with('-')
        {
            positionals.push(a);
        }
        i += 1;
    }
    // `terraform workspace select|new prod`, `pulumi stack select prod`.
    for window in positionals.windows(3) {
        if let [group, verb, name] = window
            && matches!(*group, "workspace" | "stack")
            && matches!(*verb, "select" | "new" | "init" | "rm" | "delete")
        {
            push(out, TargetKind::TerraformWorkspace, name);
        }
    }
}

fn cloud(args: &[String], out: &mut Vec<Target>) {
    let mut i = 0;
    while i < args.len() {
        if let Some((v, used)) = option_value(args, i, &["--profile", "--configuration"]) {
            push(out, TargetKind::CloudProfile, v);
            i += used;
        } else if let Some((v, used)) =
            option_value(args, i, &["--project", "--subscription", "--account-id"])
        {
            push(out, TargetKind::CloudAccount, v);
            i += used;
        } else {
            i += 1;
        }
    }
}

fn database(args: &[String], out: &mut Vec<Target>) {
    let mut i = 0;
    while i < args.len() {
        if let Some((v, used)) = option_value(args, i, &["--host", "-h"]) {
            push(out, TargetKind::DatabaseHost, v);
            i += used;
            continue;
        }
        if let Some(word) = args.get(i) {
            if let Some(host) = url_host(word) {
                push(out, TargetKind::DatabaseHost, &host);
            }
            // libpq conninfo: `host=db.prod dbname=x`.
            for kv in word.split_whitespace() {
                if let Some(h) = kv.strip_prefix("host=") {
                    push(out, TargetKind::DatabaseHost, h);
                }
            }
        }
        i += 1;
    }
}

/// `git [global options] push [options] [remote [refspec...]]`.
fn git(args: &[String], out: &mut Vec<Target>) {
    let mut i = 0;
    // Global options before the subcommand.
    while let Some(a) = args.get(i) {
        match a.as_str() {
            "-C" | "-c" | "--git-dir" | "--work-tree" | "--namespace" | "--config-env" => i += 2,
            s if s.starts_with('-') => i += 1,
            _ => break,
        }
    }
    if args.get(i).map(String::as_str) != Some("push") {
        return;
    }
    let mut positionals: Vec<&str> = Vec::new();
    i += 1;
    while i < args.len() {
        if let Some((v, used)) = option_value(args, i, &["--repo"]) {
            push(out, TargetKind::GitRemote, v);
            i += used;
            continue;
        }
        match args.get(i).map(String::as_str) {
            Some("-o" | "--push-option" | "--receive-pack" | "--exec") => i += 2,
            Some(s) if s.starts_with('-') => i += 1,
            Some(s) => {
                positionals.push(s);
                i += 1;
            }
            None => break,
        }
    }
    if let Some((remote, refspecs)) = positionals.split_first() {
        push(out, TargetKind::GitRemote, remote);
        for spec in refspecs {
            push_branch(spec, out);
        }
    }
}

fn push_branch(spec: &str, out: &mut Vec<Target>) {
    let spec = spec.trim_start_matches('+');
    let dst = spec.rsplit_once(':').map_or(spec, |(_, d)| d);
    let branch = dst
        .strip_prefix("refs/heads/")
        .or_else(|| dst.strip_prefix("heads/"))
        .unwrap_or(dst);
    if branch.is_empty() || branch == "HEAD" {
        return;
    }
    push(out, TargetKind::GitBranch, branch);
}

/// The targets a non-shell tool call names through its usual argument names.
pub fn argument_targets(args: &Value, pushes: bool) -> Vec<Target> {
    let mut out = Vec::new();
    let Some(map) = args.as_object() else {
        return out;
    };
    let text = |key: &str| map.get(key).and_then(Value::as_str);
    let pairs: [(&str, TargetKind); 9] = [
        ("context", TargetKind::KubeContext),
        ("kube_context", TargetKind::KubeContext),
        ("namespace", TargetKind::KubeNamespace),
        ("workspace", TargetKind::TerraformWorkspace),
        ("stack", TargetKind::TerraformWorkspace),
        ("profile", TargetKind::CloudProfile),
        ("project", TargetKind::CloudAccount),
        ("subscription", TargetKind::CloudAccount),
        ("host", TargetKind::DatabaseHost),
    ];
    for (key, kind) in pairs {
        if let Some(v) = text(key) {
            push(&mut out, kind, v);
        }
    }
    if let Some(url) = text("connection_string").or_else(|| text("url"))
        && let Some(host) = url_host(url)
        && !url.starts_with("http")
    {
        push(&mut out, TargetKind::DatabaseHost, &host);
    }
    if pushes {
        if let Some(remote) = text("remote") {
            push(&mut out, TargetKind::GitRemote, remote);
        }
        for key in ["branch", "refspec", "ref"] {
            if let Some(b) = text(key) {
                push_branch(b, &mut out);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_owned).collect()
    }

    fn targets(s: &str) -> Vec<(TargetKind, String)> {
        command_targets(&[], &words(s))
            .into_iter()
            .map(|t| (t.kind, t.value))
            .collect()
    }

    #[test]
    fn reads_targets_from_commands() {
        use TargetKind::*;
        assert_eq!(
            targets("kubectl --context prod delete pod x"),
            vec![(KubeContext, "prod".into())]
        );
        assert_eq!(
            targets("sudo kubectl --context=prod -n payments delete ns x"),
            vec![
                (KubeContext, "prod".into()),
                (KubeNamespace, "payments".into())
            ]
        );
        assert_eq!(
            targets("kubectl config use-context prod-eu"),
            vec![(KubeContext, "prod-eu".into())]
        );
        assert_eq!(
            targets("terraform -chdir=infra workspace select prod"),
            vec![(TerraformWorkspace, "prod".into())]
        );
        assert_eq!(
            targets("env AWS_PROFILE=prod aws s3 rm s3://b --recursive"),
            vec![(CloudProfile, "prod".into())]
        );
        assert_eq!(
            targets("aws --profile=prod sts get-caller-identity"),
            vec![(CloudProfile, "prod".into())]
        );
        assert_eq!(
            targets("aws iam get-role --role-arn arn:aws:iam::123456789012:role/x"),
            vec![(CloudAccount, "123456789012".into())]
        );
        assert_eq!(
            targets("gcloud --project acme-prod compute instances delete x"),
            vec![(CloudAccount, "acme-prod".into())]
        );
        assert_eq!(
            targets("psql -h db.prod.internal -c select"),
            vec![(DatabaseHost, "db.prod.internal".into())]
        );
        assert_eq!(
            targets("psql postgres://u:pw@db.prod.internal:5432/app"),
            vec![(DatabaseHost, "db.prod.internal".into())]
        );
        assert_eq!(
            targets("git -C repo push -f origin +refs/heads/main"),
            vec![(GitRemote, "origin".into()), (GitBranch, "main".into())]
        );
        assert_eq!(
            targets("git push origin feature:main"),
            vec![(GitRemote, "origin".into()), (GitBranch, "main".into())]
        );
        assert!(targets("git push").is_empty());
        assert!(targets("ls -la").is_empty());
    }

    #[test]
    fn assignments_before_the_command_count() {
        let t = command_targets(&["AWS_PROFILE=prod".to_owned()], &words("aws s3 ls"));
        assert_eq!(
            t,
            vec![Target {
                kind: TargetKind::CloudProfile,
                value: "prod".into()
            }]
        );
        let t = command_targets(&["TF_WORKSPACE=prod".to_owned()], &words("terraform apply"));
        assert_eq!(t.len(), 1);
    }

    #[test]
    fn globs_match_case_insensitively_and_bad_globs_are_errors() {
        let prod = vec!["prod".to_owned(), "prod-*".to_owned()];
        let t = ProductionTargets::new([(TargetKind::KubeContext, prod.as_slice())]).unwrap();
        let hit = |v: &str| {
            t.is_production(&Target {
                kind: TargetKind::KubeContext,
                value: v.into(),
            })
        };
        assert!(hit("prod") && hit("PROD") && hit("prod-eu"));
        assert!(!hit("staging") && !hit("preprod"));
        // The same name as another kind is not production.
        assert!(!t.is_production(&Target {
            kind: TargetKind::KubeNamespace,
            value: "prod".into()
        }));
        let bad = vec!["[".to_owned()];
        assert!(ProductionTargets::new([(TargetKind::GitBranch, bad.as_slice())]).is_err());
    }

    #[test]
    fn hostile_words_do_not_panic() {
        for s in [
            "kubectl --context",
            "kubectl -n",
            "git push --repo",
            "psql -h",
            "terraform workspace select",
            "aws --profile",
            "psql ://",
            "psql x://@",
            "psql x://[::1",
        ] {
            let _ = targets(s);
        }
        let long = "p".repeat(5000);
        assert!(targets(&format!("kubectl --context {long}")).is_empty());
    }

    #[test]
    fn tool_arguments_name_targets() {
        let t = argument_targets(
            &serde_json::json!({"remote": "origin", "branch": "main"}),
            true,
        );
        assert_eq!(t.len(), 2);
        let t = argument_targets(
            &serde_json::json!({"remote": "origin", "branch": "main"}),
            false,
        );
        assert!(t.is_empty());
        let t = argument_targets(&serde_json::json!({"context": "prod"}), false);
        assert_eq!(t.len(), 1);
    }
    #[test]
    fn the_classifier_sees_targets_through_disguises() {
        let contexts = vec!["prod".to_owned()];
        let workspaces = vec!["prod".to_owned()];
        let profiles = vec!["prod".to_owned()];
        let branches = vec!["main".to_owned()];
        let targets = ProductionTargets::new([
            (TargetKind::KubeContext, contexts.as_slice()),
            (TargetKind::TerraformWorkspace, workspaces.as_slice()),
            (TargetKind::CloudProfile, profiles.as_slice()),
            (TargetKind::GitBranch, branches.as_slice()),
        ])
        .unwrap();
        let classifier = crate::Classifier::default().with_production(targets);
        let tagged = |command: &str| {
            let call = crate::ToolCall {
                agent: String::new(),
                server: String::new(),
                tool: "run_command".into(),
                args: serde_json::json!({"command": command}),
            };
            classifier.classify(&call).risk_tags.contains("production")
        };
        for command in [
            "kubectl --context prod delete pod x",
            "bash -c 'kubectl --context=prod get pods'",
            "sudo /usr/local/bin/kubectl --context PROD get ns",
            "cd infra && terraform -chdir=live workspace select prod",
            "AWS_PROFILE=prod aws s3 rm s3://bucket --recursive",
            "sudo env AWS_PROFILE=prod aws s3 ls",
            "ls; git -C repo push origin HEAD:refs/heads/main",
            "sh -c \"TF_WORKSPACE=prod terraform apply\"",
        ] {
            assert!(tagged(command), "{command}");
        }
        for command in [
            "kubectl --context staging delete pod x",
            "terraform workspace select staging",
            "AWS_PROFILE=dev aws s3 ls",
            "git push origin feature/main-menu",
            "echo prod",
        ] {
            assert!(!tagged(command), "{command}");
        }
        // Without declared targets nothing is production.
        let plain = crate::Classifier::default();
        let call = crate::ToolCall {
            agent: String::new(),
            server: String::new(),
            tool: "run_command".into(),
            args: serde_json::json!({"command": "kubectl --context prod delete pod x"}),
        };
        assert!(!plain.classify(&call).risk_tags.contains("production"));
    }
}
