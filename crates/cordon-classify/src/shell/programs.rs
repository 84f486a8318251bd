//! The command tables: which program (after unwrapping) means which topic, and which of its
//! arguments are paths read or written.

use std::sync::LazyLock;

use regex::Regex;

use super::args::{has_any, norm, norms, opt_values, path_like, positionals};
use super::classify::is_secret_var;
use crate::draft::Draft;
use crate::topic::*;

pub(crate) const SHELLS: &[&str] = &[
    "sh",
    "bash",
    "zsh",
    "dash",
    "ksh",
    "ash",
    "mksh",
    "fish",
    "rbash",
    "yash",
    "tcsh",
    "csh",
    "pwsh",
    "powershell",
    "cmd",
];

/// Pagers, viewers and decompressing readers: they run programs (`LESSOPEN`, shell escapes,
/// `zcat` runs gzip), so they are never proven reads.
pub(crate) const RUNNING_VIEWERS: &[&str] = &[
    "less", "more", "most", "bat", "batcat", "view", "zcat", "bzcat", "xzcat", "zless", "zmore",
    "zgrep", "csvlook", "ag", "ack", "man",
];

/// Shell builtins and programs without arguments of interest; programs with options are in
/// [`super::readonly`]. `hash -p` and `history -w/-r/-a/-n` are handled separately.
pub(crate) const BENIGN: &[&str] = &[
    "exit", "return", "shift", "unset", "read", "wait", "jobs", "fg", "bg", "umask", "ulimit",
    "let", "getopts", "tput", "clear", "popd", "dirs", "disown", "break", "continue", "type",
];

pub(crate) const REMOVE_PROGS: &[&str] = &[
    "rm",
    "rmdir",
    "unlink",
    "shred",
    "srm",
    "trash",
    "trash-put",
    "wipe",
];

pub(crate) const EDITORS: &[&str] = &[
    "vim", "vi", "nvim", "nano", "emacs", "code", "subl", "ed", "ex", "micro", "hx", "kak",
];

// ---------------------------------------------------------------------------------------------
// everything else

static DESTRUCTIVE_SQL: LazyLock<Option<Regex>> = LazyLock::new(|| {
    Regex::new(
        r"(?i)\b(drop\s+(database|schema|table|index|view|user|role|owned|collection|keyspace)\b|truncate\b|delete\s+from\b|flushall\b|flushdb\b|dropdatabase\s*\(|\.drop\s*\(|deletemany\s*\(|\bdel\s)",
    )
    .ok()
});

fn destructive_sql(text: &str) -> bool {
    match &*DESTRUCTIVE_SQL {
        Some(re) => re.is_match(text),
        None => true, // fail closed
    }
}

pub(crate) fn pip(rest: &[String]) -> Draft {
    let pos = positionals(rest);
    match pos.first().map(|s| s.as_str()) {
        Some("install") => {
            if pos.len() > 1 || has_any(rest, &["-r", "--requirement", "-e", "--editable"]) {
                Draft::new(DEPS_ADD)
            } else {
                Draft::new(EXEC_SHELL).tag(TAG_DEPENDENCY)
            }
        }
        Some("uninstall") => Draft::new(WRITE_FILE),
        Some("download") => Draft::new(NET_FETCH),
        Some("list" | "show" | "freeze" | "check" | "--version") => Draft::new(READ_FILE),
        _ => Draft::new(EXEC_SHELL),
    }
}

/// Options that make an otherwise tame program run another one (`tar --to-command`,
/// `rsync -e`, `sed 's/x/y/e'`, `git grep -O`...).
fn runs_programs(prog: &str, rest: &[String]) -> bool {
    let starts = |prefixes: &[&str]| {
        rest.iter().any(|a| {
            prefixes
                .iter()
                .any(|p| a == p || a.starts_with(&format!("{p}=")))
        })
    };
    match prog {
        "tar" => starts(&[
            "--to-command",
            "--use-compress-program",
            "--checkpoint-action",
            "--info-script",
            "--new-volume-script",
            "-I",
            "-F",
        ]),
        "rsync" => starts(&["-e", "--rsh", "--rsync-path"]),
        "zip" => starts(&["-TT", "--unzip-command"]),
        "sed" => {
            let scripts = opt_values(rest, &["-e"], &["--expression"]);
            let first = positionals(rest).first().map(|s| (*s).clone());
            let all: Vec<&String> = scripts.iter().chain(first.iter()).collect();
            all.iter().any(|sc| match &*SED_EXEC {
                Some(re) => re.is_match(sc),
                None => true,
            }) || starts(&["-f", "--file"])
        }
        "less" | "more" | "man" => starts(&["-P", "--pager"]),
        _ => false,
    }
}

/// GNU sed commands `e` (execute), `w`/`W` (write a file) and `r`/`R` (read a file), and the
/// `s///e` / `s///w` flags.
static SED_EXEC: LazyLock<Option<Regex>> =
    LazyLock::new(|| Regex::new(r"(^|[;{}\n0-9$]|/[gipmIM0-9]*)\s*[eEwWrR](\s|$|[;}])").ok());

pub(crate) fn classify_program(
    prog: &str,
    rest: &[String],
    stdin: Option<&str>,
    diags: &mut Vec<String>,
) -> Vec<Draft> {
    let mut drafts = classify_known_program(prog, rest, stdin, diags);
    if runs_programs(prog, rest) {
        diags.push(format!("{prog} is given an option that runs a program"));
        drafts.push(Draft::new(EXEC_SHELL));
    }
    drafts
}

fn classify_known_program(
    prog: &str,
    rest: &[String],
    stdin: Option<&str>,
    diags: &mut Vec<String>,
) -> Vec<Draft> {
    let pos = positionals(rest);
    let sub = pos.first().map(|s| s.as_str()).unwrap_or("");
    let one = |d: Draft| vec![d];
    if BENIGN.contains(&prog) {
        return one(Draft::new(READ_FILE));
    }
    if matches!(prog, "cd" | "pushd") {
        return one(Draft::new(READ_DIR).reads(norms(pos.iter().take(1).copied())));
    }
    if let Some(d) = super::readonly::classify(prog, rest, diags) {
        return one(d);
    }
    if RUNNING_VIEWERS.contains(&prog) {
        diags.push(format!(
            "{prog} can run other programs (LESSOPEN, pagers, shell escapes, decompressors): not a proven read"
        ));
        return one(Draft::new(EXEC_SHELL).reads(norms(pos.iter().copied())));
    }
    if let Some(d) = cordon_control(prog, rest, &pos, diags) {
        return one(d);
    }
    match prog {
        "hash" if !rest.iter().any(|a| a.starts_with('-') && a.contains('p')) => {
            return one(Draft::new(READ_FILE));
        }
        "history" if rest.is_empty() || rest.iter().all(|a| a.parse::<u32>().is_ok()) => {
            return one(Draft::new(READ_FILE));
        }
        "shopt" if !has_any(rest, &["-s", "-u"]) => return one(Draft::new(READ_FILE)),
        // `sync FILE` opens the file for writing; plain `sync` only flushes.
        "sync" if rest.is_empty() => return one(Draft::new(READ_FILE)),
        "top" | "htop" => {
            diags.push(format!(
                "{prog} writes its configuration (~/.config/procps)"
            ));
            return one(Draft::new(EXEC_SHELL));
        }
        "bc" if rest.iter().all(|a| a.starts_with('-')) => return one(Draft::new(READ_FILE)),
        _ => {}
    }
    if REMOVE_PROGS.contains(&prog) {
        let mut d = Draft::new(WRITE_REMOVE).writes(norms(pos.iter().copied()));
        if let Some(t) = pos
            .iter()
            .find(|p| crate::guard::catastrophic_target(p, &norm(p)))
        {
            diags.push(format!(
                "{prog} {t}: removes a whole tree (root, home or workspace)"
            ));
            d = d.tag(TAG_CATASTROPHIC);
        }
        return one(d);
    }
    if EDITORS.contains(&prog) {
        return one(Draft::new(WRITE_FILE).reads(norms(pos.iter().copied())));
    }
    match prog {
        "find" => one(super::readonly::find(rest, diags)),
        "fd" | "fdfind" | "locate" | "plocate" | "mlocate" => {
            one(Draft::new(READ_SEARCH).reads(norms(pos.iter().skip(1).copied())))
        }
        "awk" | "gawk" | "mawk" | "nawk" => one(super::readonly::awk(prog, rest, diags)),
        "sed" => one(super::readonly::sed(rest, diags)),
        "yq" if rest.iter().any(|a| a == "-i" || a == "--inplace") => {
            one(Draft::new(WRITE_FILE).writes(norms(pos.iter().skip(1).copied())))
        }
        "mv" | "rename" => one(Draft::new(WRITE_MOVE)
            .writes(norms(pos.iter().copied()))
            .writes(norms(&opt_values(rest, &["-t"], &["--target-directory"])))),
        "mkdir" => one(Draft::new(WRITE_MKDIR).writes(norms(pos.iter().copied()))),
        "cp" | "install" | "ln" | "link" => {
            let target = opt_values(rest, &["-t"], &["--target-directory"]);
            let d = if !target.is_empty() {
                Draft::new(WRITE_FILE)
                    .reads(norms(pos.iter().copied()))
                    .writes(norms(&target))
            } else if pos.len() >= 2 {
                let (last, srcs) = pos
                    .split_last()
                    .map_or((None, &[][..]), |(l, s)| (Some(*l), s));
                Draft::new(WRITE_FILE)
                    .reads(norms(srcs.iter().copied()))
                    .writes(norms(last))
            } else {
                Draft::new(WRITE_FILE).reads(norms(pos.iter().copied()))
            };
            one(d)
        }
        "touch" | "truncate" | "tee" | "mktemp" | "split" | "csplit" => {
            one(Draft::new(WRITE_FILE).writes(norms(pos.iter().copied())))
        }
        "chmod" | "chown" | "chgrp" | "chattr" | "setfacl" => {
            one(Draft::new(WRITE_FILE).writes(norms(pos.iter().skip(1).copied())))
        }
        "dd" => {
            let mut d = Draft::new(READ_FILE);
            for a in rest {
                if let Some(v) = a.strip_prefix("if=") {
                    d = d.reads([norm(v)]);
                } else if let Some(v) = a.strip_prefix("of=") {
                    d = d.writes([norm(v)]);
                    d.escalate(WRITE_FILE);
                }
            }
            one(d)
        }
        "patch" => one(Draft::new(WRITE_FILE)
            .writes(norms(pos.iter().copied()))
            .reads(norms(&opt_values(rest, &["-i"], &["--input"])))),
        "tar" if let Some(d) = super::readonly::tar(rest, diags) => one(d),
        "tar" | "zip" | "unzip" | "gzip" | "gunzip" | "bzip2" | "bunzip2" | "xz" | "unxz"
        | "zstd" | "7z" | "7za" | "unrar" | "rar" | "cpio" => one(Draft::new(WRITE_FILE)
            .reads(norms(pos.iter().copied()))
            .reads(norms(&opt_values(rest, &["-f"], &["--file"])))),
        "rsync" | "scp" => {
            let remote = pos.iter().any(|p| looks_remote(p));
            let mut d = if pos.len() >= 2 {
                let (last, srcs) = pos
                    .split_last()
                    .map_or((None, &[][..]), |(l, s)| (Some(*l), s));
                Draft::new(WRITE_FILE)
                    .reads(norms(srcs.iter().copied().filter(|p| !looks_remote(p))))
                    .writes(norms(last.filter(|p| !looks_remote(p))))
            } else {
                Draft::new(WRITE_FILE).reads(norms(pos.iter().copied()))
            };
            if remote {
                d = d.tag(TAG_NETWORK);
            }
            if rest
                .iter()
                .any(|a| a.starts_with("--delete") || a == "--remove-source-files")
            {
                d = d.tag(TAG_DESTRUCTIVE);
            }
            one(d)
        }
        "curl" => one(curl(rest)),
        "wget" | "wget2" => one(wget(rest)),
        "http" | "https" | "xh" | "xhs" | "httpie" => {
            let uploads: Vec<String> = rest
                .iter()
                .filter_map(|a| a.split_once('@').map(|(_, f)| f.to_owned()))
                .filter(|f| !f.is_empty())
                .collect();
            let outs = opt_values(rest, &["-o"], &["--output"]);
            let mut d = Draft::new(NET_FETCH).reads(norms(&uploads));
            if !outs.is_empty() || has_any(rest, &["-d", "--download"]) {
                d = d.writes(norms(&outs));
                d.escalate(WRITE_FILE);
            }
            one(d)
        }
        "aria2c" | "axel" => one(Draft::new(WRITE_FILE).tag(TAG_NETWORK)),
        "nc" | "ncat" | "netcat" | "socat" | "telnet" | "ssh" | "mosh" | "sftp" | "ftp" => {
            one(Draft::new(EXEC_SHELL)
                .tag(TAG_NETWORK)
                .reads(norms(&opt_values(rest, &["-i", "-F"], &[]))))
        }
        // Environment dumps.
        "printenv" => one(Draft::new(READ_ENV)),
        "export" | "set" | "declare" | "typeset" | "local" | "readonly"
            if pos.iter().any(|p| {
                p.split('=')
                    .next()
                    .is_some_and(super::classify::is_exec_env)
            }) =>
        {
            diags.push(format!(
                "{prog} sets a variable that makes later commands run other programs"
            ));
            one(Draft::new(EXEC_SHELL))
        }
        "export" | "set" | "declare" | "typeset" | "local" | "readonly" => {
            let names: Vec<&&String> = pos.iter().filter(|p| !p.contains('=')).collect();
            let assigns = pos.iter().any(|p| p.contains('='));
            let dumps = match prog {
                "set" => rest.is_empty(),
                "local" => false,
                _ => (names.is_empty() && !assigns) || has_any(rest, &["-p"]) && names.is_empty(),
            };
            if dumps || names.iter().any(|n| is_secret_var(n)) && has_any(rest, &["-p"]) {
                one(Draft::new(READ_ENV))
            } else {
                one(Draft::new(READ_FILE))
            }
        }
        "compgen" if has_any(rest, &["-e", "-v", "-A"]) => one(Draft::new(READ_ENV)),
        "ps" if pos.iter().any(|a| a.contains('e')) || has_any(rest, &["-E"]) => {
            one(Draft::new(READ_ENV))
        }
        "ps" | "pgrep" => one(Draft::new(READ_FILE)),
        // Secret stores.
        "security" if sub.starts_with("find-") || sub.starts_with("dump-") || sub == "export" => {
            one(Draft::new(READ_SECRETS))
        }
        "gh" => one(gh(&pos)),
        "op" | "vault" | "pass" | "gopass" | "secret-tool" | "keyring" | "bw" | "lpass" => {
            if matches!(
                sub,
                "read" | "get" | "show" | "item" | "lookup" | "kv" | "inject" | "run" | "export"
            ) || prog == "pass"
            {
                one(Draft::new(READ_SECRETS))
            } else {
                one(Draft::new(EXEC_SHELL))
            }
        }
        "gpg" | "gpg2" | "age" | "sops" => {
            if has_any(
                rest,
                &[
                    "-d",
                    "--decrypt",
                    "--export-secret-keys",
                    "--export-secret-subkeys",
                    "exec-env",
                    "exec-file",
                ],
            ) || sub == "decrypt"
                || sub == "-d"
            {
                one(Draft::new(READ_SECRETS).reads(norms(pos.iter().copied())))
            } else {
                one(Draft::new(EXEC_SHELL).reads(norms(pos.iter().copied())))
            }
        }
        // Infrastructure.
        "terraform" | "tofu" | "terragrunt" | "opentofu" => {
            let tf_pos: Vec<&String> = rest.iter().filter(|a| !a.starts_with('-')).collect();
            let tf_sub = tf_pos.first().map(|s| s.as_str()).unwrap_or("");
            let destroy = tf_pos.iter().any(|a| *a == "destroy")
                || (tf_sub == "apply" || tf_pos.iter().any(|a| *a == "apply"))
                    && has_any(rest, &["-destroy", "--destroy"])
                || (tf_sub == "state"
                    && tf_pos
                        .get(1)
                        .is_some_and(|s| matches!(s.as_str(), "rm" | "push" | "replace-provider")))
                || (tf_sub == "workspace" && tf_pos.get(1).is_some_and(|s| s.as_str() == "delete"));
            let dirs: Vec<String> = rest
                .iter()
                .filter_map(|a| a.strip_prefix("-chdir="))
                .map(norm)
                .collect();
            if destroy {
                one(Draft::new(INFRA_DESTROY).reads(dirs))
            } else {
                one(Draft::new(EXEC_SHELL).tag(TAG_INFRASTRUCTURE).reads(dirs))
            }
        }
        "pulumi" => {
            if matches!(sub, "destroy" | "down")
                || (sub == "stack" && pos.get(1).is_some_and(|s| s.as_str() == "rm"))
            {
                one(Draft::new(INFRA_DESTROY))
            } else {
                one(Draft::new(EXEC_SHELL).tag(TAG_INFRASTRUCTURE))
            }
        }
        "cdk" | "cdktf" | "serverless" | "sls" | "sam" | "sst" | "copilot" => {
            if pos
                .iter()
                .any(|a| matches!(a.as_str(), "destroy" | "remove" | "delete"))
            {
                one(Draft::new(INFRA_DESTROY))
            } else {
                one(Draft::new(EXEC_SHELL).tag(TAG_INFRASTRUCTURE))
            }
        }
        "kubectl" | "oc" | "kubecolor" | "k" | "microk8s.kubectl" | "k3s" => {
            let kpos = kube_positionals(rest);
            let ksub = kpos.first().map(|s| s.as_str()).unwrap_or("");
            let ksub = if ksub == "kubectl" {
                kpos.get(1).map(|s| s.as_str()).unwrap_or("")
            } else {
                ksub
            };
            if matches!(ksub, "delete" | "drain") {
                one(Draft::new(K8S_DELETE))
            } else if matches!(ksub, "get" | "describe" | "edit")
                && kpos.iter().any(|a| {
                    a.to_lowercase().starts_with("secret") || a.to_lowercase().contains("secret/")
                })
                || (ksub == "config" && has_any(rest, &["--raw"]))
            {
                one(Draft::new(READ_SECRETS))
            } else {
                one(Draft::new(EXEC_SHELL).tag(TAG_INFRASTRUCTURE))
            }
        }
        "helm" => {
            if matches!(sub, "uninstall" | "delete" | "del" | "un") {
                one(Draft::new(K8S_DELETE))
            } else {
                one(Draft::new(EXEC_SHELL).tag(TAG_INFRASTRUCTURE))
            }
        }
        "aws" => one(aws(rest)),
        "gcloud" => {
            let lower: Vec<String> = pos.iter().map(|s| s.to_lowercase()).collect();
            let has = |w: &str| lower.iter().any(|a| a == w);
            if has("delete") {
                one(Draft::new(CLOUD_DELETE))
            } else if has("print-access-token")
                || has("print-identity-token")
                || (has("secrets") && has("access"))
            {
                one(Draft::new(READ_SECRETS))
            } else {
                one(Draft::new(EXEC_SHELL)
                    .tag(TAG_INFRASTRUCTURE)
                    .tag(TAG_NETWORK))
            }
        }
        "gsutil" => {
            if matches!(sub, "rm" | "rb") {
                one(Draft::new(CLOUD_DELETE))
            } else {
                one(Draft::new(EXEC_SHELL)
                    .tag(TAG_INFRASTRUCTURE)
                    .tag(TAG_NETWORK))
            }
        }
        "az" => {
            let has = |w: &str| pos.iter().any(|a| a.as_str() == w);
            if has("delete") || has("purge") {
                one(Draft::new(CLOUD_DELETE))
            } else if (has("secret") && (has("show") || has("download"))) || has("get-access-token")
            {
                one(Draft::new(READ_SECRETS))
            } else {
                one(Draft::new(EXEC_SHELL)
                    .tag(TAG_INFRASTRUCTURE)
                    .tag(TAG_NETWORK))
            }
        }
        "doctl" | "heroku" | "flyctl" | "fly" | "vercel" | "netlify" | "linode-cli" | "hcloud" => {
            if pos.iter().any(|a| {
                let a = a.to_lowercase();
                a == "delete"
                    || a == "destroy"
                    || a == "rm"
                    || a == "remove"
                    || a.ends_with(":destroy")
            }) {
                one(Draft::new(CLOUD_DELETE))
            } else {
                one(Draft::new(EXEC_SHELL)
                    .tag(TAG_INFRASTRUCTURE)
                    .tag(TAG_NETWORK))
            }
        }
        // Databases.
        "dropdb" | "dropuser" => one(Draft::new(DB_DROP)),
        "mysqladmin" if pos.iter().any(|a| a.as_str() == "drop") => one(Draft::new(DB_DROP)),
        "psql" | "mysql" | "mariadb" | "sqlite3" | "sqlite" | "mongosh" | "mongo" | "redis-cli"
        | "clickhouse-client" | "clickhouse" | "cockroach" | "cqlsh" | "duckdb" | "sqlcmd" => {
            let mut text = opt_values(
                rest,
                &["-c", "-e", "-q", "-Q"],
                &["--command", "--execute", "--eval", "--query"],
            )
            .join("\n");
            if matches!(prog, "sqlite3" | "sqlite" | "redis-cli" | "duckdb") {
                text.push('\n');
                text.push_str(&rest.join(" "));
            }
            if let Some(s) = stdin {
                text.push('\n');
                text.push_str(s);
            }
            // The database file itself (`sqlite3 evidence.db`): Cordon's evidence is state.
            let db: Vec<String> = if matches!(prog, "sqlite3" | "sqlite" | "duckdb") {
                norms(pos.iter().take(1).copied())
            } else {
                Vec::new()
            };
            if destructive_sql(&text) {
                one(Draft::new(DB_DROP).reads(db))
            } else {
                one(Draft::new(EXEC_SHELL)
                    .reads(norms(&opt_values(rest, &["-f"], &["--file"])))
                    .reads(db))
            }
        }
        // Dependencies.
        "npm" | "pnpm" | "yarn" | "bun" | "cnpm" => one(js_pm(prog, rest, &pos)),
        "pip" | "pip3" | "pip2" => one(pip(rest)),
        "pipx" => match sub {
            "install" | "inject" => one(Draft::new(DEPS_ADD)),
            _ => one(Draft::new(EXEC_SHELL)),
        },
        "uv" => match (sub, pos.get(1).map(|s| s.as_str())) {
            ("add", _) | ("pip", Some("install")) | ("tool", Some("install")) => {
                one(Draft::new(DEPS_ADD))
            }
            _ => one(Draft::new(EXEC_SHELL)),
        },
        "poetry" | "pdm" | "rye" | "hatch" | "pipenv" | "conda" | "mamba" | "micromamba"
        | "cargo" | "gem" | "bundle" | "bundler" | "composer" | "brew" | "apt" | "apt-get"
        | "dnf" | "yum" | "zypper" | "apk" | "snap" | "port" | "deno" | "dotnet" | "go"
        | "nuget" | "pacman" => one(pkg_manager(prog, sub, &pos, rest)),
        "docker" | "podman" | "nerdctl" => {
            let lower: Vec<&str> = pos.iter().map(|s| s.as_str()).collect();
            if lower.iter().any(|a| matches!(*a, "rm" | "rmi" | "prune"))
                || (lower.contains(&"down") && has_any(rest, &["-v", "--volumes"]))
            {
                one(Draft::new(WRITE_REMOVE))
            } else if sub == "push" {
                one(Draft::new(EXEC_SHELL).tag(TAG_DEPLOY))
            } else {
                one(Draft::new(EXEC_SHELL))
            }
        }
        "twine" if sub == "upload" => one(Draft::new(EXEC_SHELL).tag(TAG_DEPLOY)),
        _ => one(Draft::new(EXEC_SHELL).reads(path_like(rest))),
    }
}

fn looks_remote(p: &str) -> bool {
    match p.split_once(':') {
        Some((host, _)) => !host.is_empty() && !host.contains('/') && host.len() > 1,
        None => false,
    }
}

fn kube_positionals(rest: &[String]) -> Vec<&String> {
    const VALS: &[&str] = &[
        "--context",
        "--namespace",
        "-n",
        "--kubeconfig",
        "--cluster",
        "--user",
        "--server",
        "-s",
        "--token",
        "--as",
        "--as-group",
        "--request-timeout",
        "--certificate-authority",
        "--client-certificate",
        "--client-key",
        "-l",
        "--selector",
        "-o",
        "--output",
        "-f",
        "--filename",
        "-c",
        "--container",
    ];
    let mut out = Vec::new();
    let mut it = rest.iter();
    while let Some(a) = it.next() {
        if VALS.contains(&a.as_str()) {
            it.next();
        } else if !a.starts_with('-') {
            out.push(a);
        }
    }
    out
}

fn curl(rest: &[String]) -> Draft {
    // Short options that take a value, per curl(1).
    const VALUE_SHORT: &str = "oTdFKDcHXuAebxrmwyYzEUQtPC";
    let mut reads: Vec<String> = Vec::new();
    let mut writes: Vec<String> = Vec::new();
    let mut writes_somewhere = false;
    let mut it = rest.iter();
    let take_value = |opt: &str,
                      v: &str,
                      reads: &mut Vec<String>,
                      writes: &mut Vec<String>,
                      ws: &mut bool| match opt {
        "o" | "--output" | "D" | "--dump-header" | "c" | "--cookie-jar" | "--trace"
        | "--trace-ascii" | "--stderr" | "--libcurl" | "--output-dir"
            if v != "-" =>
        {
            writes.push(norm(v));
            *ws = true;
        }
        "T" | "--upload-file" | "K" | "--config" => reads.push(norm(v)),
        "d" | "--data" | "--data-binary" | "--data-urlencode" | "--json" | "--data-ascii" => {
            if let Some((_, f)) = v.split_once('@') {
                reads.push(norm(f));
            }
        }
        "F" | "--form" => {
            if let Some((_, val)) = v.split_once('=')
                && let Some(f) = val.strip_prefix('@').or_else(|| val.strip_prefix('<'))
            {
                reads.push(norm(f.split(';').next().unwrap_or(f)));
            }
        }
        _ => {}
    };
    const LONG_VALUES: &[&str] = &[
        "--output",
        "--dump-header",
        "--cookie-jar",
        "--trace",
        "--trace-ascii",
        "--stderr",
        "--libcurl",
        "--output-dir",
        "--upload-file",
        "--config",
        "--data",
        "--data-binary",
        "--data-urlencode",
        "--json",
        "--data-ascii",
        "--form",
        "--header",
        "--request",
        "--user",
        "--user-agent",
        "--referer",
        "--cookie",
        "--proxy",
        "--max-time",
        "--retry",
        "--url",
        "--resolve",
        "--connect-to",
        "--cert",
        "--key",
        "--cacert",
        "--write-out",
        "--range",
    ];
    while let Some(a) = it.next() {
        if a == "-O" || a == "--remote-name" || a == "--remote-name-all" || a == "-J" {
            writes_somewhere = true;
            continue;
        }
        if let Some(long) = a.strip_prefix("--") {
            let (name, inline) = match long.split_once('=') {
                Some((n, v)) => (format!("--{n}"), Some(v.to_owned())),
                None => (a.clone(), None),
            };
            if let Some(v) = inline {
                take_value(&name, &v, &mut reads, &mut writes, &mut writes_somewhere);
            } else if LONG_VALUES.contains(&name.as_str())
                && let Some(v) = it.next()
            {
                take_value(&name, v, &mut reads, &mut writes, &mut writes_somewhere);
            }
            continue;
        }
        if let Some(cluster) = a.strip_prefix('-').filter(|c| !c.is_empty()) {
            for (k, ch) in cluster.char_indices() {
                if ch == 'O' {
                    writes_somewhere = true;
                }
                if VALUE_SHORT.contains(ch) {
                    let attached = cluster.get(k + ch.len_utf8()..).unwrap_or("");
                    let v = if attached.is_empty() {
                        it.next().cloned().unwrap_or_default()
                    } else {
                        attached.to_owned()
                    };
                    take_value(
                        &ch.to_string(),
                        &v,
                        &mut reads,
                        &mut writes,
                        &mut writes_somewhere,
                    );
                    break;
                }
            }
        }
    }
    // `curl file:///home/u/.env` reads a local file.
    reads.extend(rest.iter().filter_map(|a| local_file_url(a)));
    let mut d = Draft::new(NET_FETCH).reads(reads).writes(writes);
    if writes_somewhere {
        d.escalate(WRITE_FILE);
    }
    d
}

/// The path of a `file://` URL.
fn local_file_url(a: &str) -> Option<String> {
    crate::fileurl::file_url_path(a).map(|path| norm(&path))
}

fn wget(rest: &[String]) -> Draft {
    let mut outs = opt_values(rest, &["-O"], &["--output-document"]);
    // `-qO-`, `-qO file`: the output option inside a cluster of short flags.
    let mut it = rest.iter();
    while let Some(a) = it.next() {
        if a.starts_with("--") || !a.starts_with('-') || a.starts_with("-O") {
            continue;
        }
        if let Some((_, v)) = a.split_once('O') {
            match (v.is_empty(), it.next()) {
                (false, _) => outs.push(v.to_owned()),
                (true, Some(next)) => outs.push(next.clone()),
                (true, None) => {}
            }
        }
    }
    let to_stdout = outs.iter().any(|o| o == "-");
    let reads = opt_values(
        rest,
        &["-i"],
        &[
            "--input-file",
            "--post-file",
            "--body-file",
            "--load-cookies",
        ],
    );
    let writes: Vec<String> = outs
        .iter()
        .filter(|o| *o != "-")
        .cloned()
        .chain(opt_values(
            rest,
            &["-P", "-o", "-a"],
            &[
                "--directory-prefix",
                "--output-file",
                "--append-output",
                "--save-cookies",
            ],
        ))
        .collect();
    let mut d = Draft::new(NET_FETCH)
        .reads(norms(&reads))
        .writes(norms(&writes));
    if !has_any(rest, &["--spider"]) && (!to_stdout || !writes.is_empty()) {
        d.escalate(WRITE_FILE);
    }
    d
}

fn gh(pos: &[&String]) -> Draft {
    let a = pos.first().map(|s| s.as_str()).unwrap_or("");
    let b = pos.get(1).map(|s| s.as_str()).unwrap_or("");
    match (a, b) {
        ("auth", "token") => Draft::new(READ_SECRETS),
        ("pr", "merge") => Draft::new(GIT_PUSH),
        ("repo" | "release", "delete") => Draft::new(CLOUD_DELETE),
        (
            "pr" | "issue" | "repo" | "release" | "gist",
            "create" | "edit" | "comment" | "close" | "reopen" | "fork" | "upload",
        ) => Draft::new(GIT_PUSH).tag(TAG_NETWORK),
        (
            "pr" | "issue" | "repo" | "release" | "run" | "workflow",
            "list" | "view" | "status" | "checks" | "diff",
        ) => Draft::new(READ_WEB),
        _ => Draft::new(EXEC_SHELL).tag(TAG_NETWORK),
    }
}

fn aws(rest: &[String]) -> Draft {
    const VALS: &[&str] = &[
        "--profile",
        "--region",
        "--output",
        "--endpoint-url",
        "--query",
        "--color",
        "--cli-read-timeout",
        "--cli-connect-timeout",
        "--ca-bundle",
    ];
    let mut pos: Vec<&str> = Vec::new();
    let mut it = rest.iter();
    while let Some(a) = it.next() {
        if VALS.contains(&a.as_str()) {
            it.next();
        } else if !a.starts_with('-') {
            pos.push(a);
        }
    }
    let service = pos.first().copied().unwrap_or("");
    let op = pos.get(1).copied().unwrap_or("");
    let secret_ops = [
        ("secretsmanager", "get-secret-value"),
        ("ssm", "get-parameter"),
        ("ssm", "get-parameters"),
        ("ssm", "get-parameters-by-path"),
        ("sts", "get-session-token"),
        ("sts", "assume-role"),
        ("configure", "get"),
        ("configure", "export-credentials"),
        ("ecr", "get-login-password"),
        ("iam", "create-access-key"),
        ("kms", "decrypt"),
    ];
    if secret_ops.contains(&(service, op)) {
        Draft::new(READ_SECRETS)
    } else if [
        "delete-",
        "terminate-",
        "remove-",
        "deregister-",
        "destroy-",
        "purge-",
    ]
    .iter()
    .any(|p| op.starts_with(p))
        || matches!(op, "rm" | "rb")
    {
        Draft::new(CLOUD_DELETE)
    } else {
        Draft::new(EXEC_SHELL)
            .tag(TAG_INFRASTRUCTURE)
            .tag(TAG_NETWORK)
    }
}

fn js_pm(prog: &str, rest: &[String], pos: &[&String]) -> Draft {
    let sub = pos.first().map(|s| s.as_str());
    let pkgs_after = |k: usize| pos.len() > k;
    match sub {
        None if prog == "yarn" => Draft::new(EXEC_SHELL).tag(TAG_DEPENDENCY),
        Some("add") => Draft::new(DEPS_ADD),
        Some("global") if pos.get(1).is_some_and(|s| s.as_str() == "add") => Draft::new(DEPS_ADD),
        Some(
            "install" | "i" | "in" | "ins" | "inst" | "insta" | "instal" | "isnt" | "isnta"
            | "isntal" | "isntall",
        ) => {
            if pkgs_after(1) {
                Draft::new(DEPS_ADD)
            } else {
                Draft::new(EXEC_SHELL).tag(TAG_DEPENDENCY)
            }
        }
        Some("ci" | "rebuild" | "update" | "up" | "upgrade") => {
            Draft::new(EXEC_SHELL).tag(TAG_DEPENDENCY)
        }
        Some("publish") => Draft::new(EXEC_SHELL).tag(TAG_DEPLOY),
        Some("uninstall" | "remove" | "rm" | "un" | "r") => Draft::new(WRITE_FILE),
        Some(
            "list" | "ls" | "view" | "info" | "outdated" | "why" | "explain" | "--version" | "-v",
        ) => Draft::new(READ_FILE),
        _ => {
            let _ = rest;
            Draft::new(EXEC_SHELL)
        }
    }
}

fn pkg_manager(prog: &str, sub: &str, pos: &[&String], rest: &[String]) -> Draft {
    let second = pos.get(1).map(|s| s.as_str()).unwrap_or("");
    let adds = match prog {
        "poetry" | "pdm" | "rye" | "hatch" | "bundle" | "bundler" | "deno" => {
            sub == "add" || (prog == "deno" && sub == "install")
        }
        "pipenv" => sub == "install" && pos.len() > 1,
        "conda" | "mamba" | "micromamba" | "gem" | "brew" | "apt" | "apt-get" | "dnf" | "yum"
        | "zypper" | "snap" | "port" | "nuget" => {
            matches!(sub, "install" | "reinstall" | "tap" | "in")
        }
        "apk" => sub == "add",
        "pacman" => rest
            .iter()
            .any(|a| a.starts_with("-S") && !a.starts_with("-Ss")),
        "cargo" => matches!(sub, "add" | "install"),
        "composer" => sub == "require",
        "go" => sub == "get" || (sub == "install" && pos.iter().any(|p| p.contains('@'))),
        "dotnet" => sub == "add" && second == "package",
        _ => false,
    };
    if adds {
        return Draft::new(DEPS_ADD);
    }
    let removes = matches!(sub, "remove" | "purge" | "uninstall" | "del" | "autoremove");
    if removes
        && matches!(
            prog,
            "apt" | "apt-get" | "dnf" | "yum" | "zypper" | "apk" | "snap" | "brew" | "port"
        )
    {
        return Draft::new(WRITE_REMOVE);
    }
    if matches!(sub, "publish" | "push") {
        return Draft::new(EXEC_SHELL).tag(TAG_DEPLOY);
    }
    Draft::new(EXEC_SHELL)
}

/// Commands that drive Cordon: the `cordon` CLI itself (except printing its version, help, or
/// checking a policy), and process or service control aimed at it (`pkill cordon`,
/// `systemctl --user stop cordon`). An agent must not approve, resume, pause or uninstall its
/// own governance.
fn cordon_control(
    prog: &str,
    rest: &[String],
    pos: &[&String],
    diags: &mut Vec<String>,
) -> Option<Draft> {
    let names_cordon = |a: &String| a.to_lowercase().contains("cordon");
    match prog {
        "cordon" | "cordon-cli" | "cordon-desktop" | "cordon-tray" => {
            let sub = pos.first().map(|s| s.as_str()).unwrap_or("");
            let second = pos.get(1).map(|s| s.as_str()).unwrap_or("");
            let harmless = (pos.is_empty()
                && rest
                    .iter()
                    .all(|a| matches!(a.as_str(), "--version" | "-V" | "--help" | "-h")))
                || sub == "help"
                || (sub == "policy" && matches!(second, "check" | "test" | "explain" | "lint"));
            if harmless {
                return Some(Draft::new(READ_FILE));
            }
            diags.push(format!(
                "`cordon {sub}` drives Cordon itself: only the human runs it"
            ));
            Some(Draft::new(CORDON_CONTROL))
        }
        "kill" | "pkill" | "killall" | "pgrep" | "pidof" | "systemctl" | "launchctl"
        | "taskkill" | "service" | "loginctl" | "skill" | "renice" | "gdb" | "strace"
            if rest.iter().any(names_cordon) =>
        {
            diags.push(format!("{prog} aimed at Cordon's engine"));
            Some(Draft::new(CORDON_CONTROL))
        }
        _ => None,
    }
}
