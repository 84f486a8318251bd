//! The settings page: reviewer, approval timeout and upstream servers, read from and written to
//! the gateway's YAML config file. Edits change only the lines of the key or server entry
//! concerned (comments and formatting elsewhere survive byte for byte), and the whole result is
//! validated by the gateway's own loader before the file is replaced atomically.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use cordon_gateway::Config;
use cordon_gateway::config::{BUILTIN_SERVER, is_valid_name};
use serde::{Deserialize, Serialize};

use crate::AdminError;
use crate::fsutil::write_atomic;
use crate::yamledit;

/// Longest string accepted in a server entry (commands, args, values).
const MAX_FIELD: usize = 64 * 1024;
/// Most args / env / headers entries accepted.
const MAX_ITEMS: usize = 1000;
/// Longest reviewer identity.
const MAX_REVIEWER: usize = 200;
/// Longest approval timeout the gateway accepts (168h).
const MAX_TIMEOUT_SECS: u64 = 7 * 24 * 3600;

/// Config edits in this process are serialised (the check for concurrent outside edits covers
/// other processes).
static EDIT_LOCK: Mutex<()> = Mutex::new(());

/// How an upstream server is reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[serde(rename_all = "snake_case")]
pub enum Transport {
    /// A child process speaking MCP on stdio.
    Stdio,
    /// A remote server speaking MCP Streamable HTTP.
    Http,
}

/// One upstream server as the settings page shows and edits it: values as written in the file
/// (`${keychain:NAME}` references stay references; nothing is resolved).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
pub struct ServerEntry {
    /// The server's name (`[a-z0-9-]+`), the prefix of its tools.
    pub name: String,
    /// `stdio` or `http`.
    pub transport: Transport,
    /// Program to run (stdio).
    #[serde(default)]
    pub command: Option<String>,
    /// Its arguments (stdio).
    #[serde(default)]
    pub args: Vec<String>,
    /// Extra environment variables (stdio).
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// Working directory as written (stdio).
    #[serde(default)]
    pub cwd: Option<String>,
    /// Endpoint (http).
    #[serde(default)]
    pub url: Option<String>,
    /// Extra HTTP headers (http).
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
}

/// What the settings page shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
pub struct Settings {
    /// The identity recorded on approvals (the OS user when the file names none).
    pub reviewer: String,
    /// How long a held call waits for a human.
    pub approval_timeout_secs: u64,
    /// The upstream servers, in file order.
    pub servers: Vec<ServerEntry>,
    /// The config file edited (None: no file and no default location).
    pub config_path: Option<String>,
}

/// The config file the settings page edits.
#[derive(Debug, Clone)]
pub struct ConfigFile {
    path: PathBuf,
}

impl ConfigFile {
    /// The file at `path` (it may not exist yet: the first edit creates it).
    pub fn new(path: &Path) -> ConfigFile {
        ConfigFile {
            path: crate::fsutil::absolute(path),
        }
    }

    /// The engine's config file, else the default location (`<config dir>/cordon/config.yaml`).
    pub fn for_config(config: &Config) -> Option<ConfigFile> {
        config
            .source
            .clone()
            .or_else(Config::default_path)
            .map(|p| ConfigFile::new(&p))
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The text now ("" when the file does not exist).
    pub fn text(&self) -> Result<String, AdminError> {
        match std::fs::read(&self.path) {
            Ok(bytes) => String::from_utf8(bytes).map_err(|_| {
                AdminError::Invalid(format!("{} is not UTF-8 text", self.path.display()))
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(String::new()),
            Err(e) => Err(AdminError::io(
                format!("cannot read {}", self.path.display()),
                e,
            )),
        }
    }

    /// The validated config (defaults when the file does not exist).
    pub fn load(&self) -> Result<Config, AdminError> {
        let text = self.text()?;
        Config::parse(&text, &self.path).map_err(|e| AdminError::Invalid(e.to_string()))
    }

    /// What the settings page shows.
    pub fn settings(&self) -> Result<Settings, AdminError> {
        let text = self.text()?;
        let config =
            Config::parse(&text, &self.path).map_err(|e| AdminError::Invalid(e.to_string()))?;
        Ok(Settings {
            reviewer: config.reviewer.clone(),
            approval_timeout_secs: config.approval_timeout.as_secs(),
            servers: raw_servers(&text)?,
            config_path: Some(self.path.display().to_string()),
        })
    }

    /// Adds a server, or replaces `original_name` (renaming it when the names differ).
    pub fn server_save(
        &self,
        entry: &ServerEntry,
        original_name: Option<&str>,
    ) -> Result<Settings, AdminError> {
        check_entry(entry)?;
        self.edit(|text| {
            let mut expected = raw_servers(text)?;
            let existing = |name: &str| expected.iter().position(|s| s.name == name);
            let replaced = match original_name {
                Some(original) => Some(existing(original).ok_or_else(|| {
                    AdminError::NotFound(format!("no server named `{original}` in the config"))
                })?),
                None => None,
            };
            if let Some(other) = existing(&entry.name)
                && Some(other) != replaced
            {
                return Err(AdminError::Conflict(format!(
                    "a server named `{}` already exists",
                    entry.name
                )));
            }
            let new_text = match replaced {
                Some(index) => {
                    let old = expected
                        .get(index)
                        .map(|s| s.name.clone())
                        .unwrap_or_default();
                    if let Some(slot) = expected.get_mut(index) {
                        *slot = entry.clone();
                    }
                    replace_server(text, &old, entry, &expected)?
                }
                None => {
                    expected.push(entry.clone());
                    add_server(text, entry, &expected)?
                }
            };
            Ok((new_text, expected))
        })
    }

    /// Removes a server.
    pub fn server_remove(&self, name: &str) -> Result<Settings, AdminError> {
        self.edit(|text| {
            let mut expected = raw_servers(text)?;
            let index = expected
                .iter()
                .position(|s| s.name == name)
                .ok_or_else(|| AdminError::NotFound(format!("no server named `{name}`")))?;
            expected.remove(index);
            let new_text = match yamledit::entries(text, "servers") {
                Some((_, list)) => match list.iter().find(|(n, _)| n == name) {
                    Some((_, span)) => yamledit::replace_span(text, *span, ""),
                    None => rewrite_servers(text, &expected),
                },
                None => rewrite_servers(text, &expected),
            };
            Ok((new_text, expected))
        })
    }

    /// Sets the reviewer identity and the approval timeout.
    pub fn settings_save(
        &self,
        reviewer: &str,
        approval_timeout_secs: u64,
    ) -> Result<Settings, AdminError> {
        let reviewer = reviewer.trim();
        if reviewer.is_empty() || reviewer.chars().count() > MAX_REVIEWER {
            return Err(AdminError::Invalid(format!(
                "the reviewer must be 1 to {MAX_REVIEWER} characters"
            )));
        }
        if reviewer.chars().any(char::is_control) {
            return Err(AdminError::Invalid(
                "the reviewer contains control characters".to_owned(),
            ));
        }
        if approval_timeout_secs == 0 || approval_timeout_secs > MAX_TIMEOUT_SECS {
            return Err(AdminError::Invalid(format!(
                "the approval timeout must be 1 to {MAX_TIMEOUT_SECS} seconds"
            )));
        }
        self.edit(|text| {
            let nl = yamledit::newline(text);
            let out = yamledit::set_top_level(
                text,
                "reviewer",
                &format!("reviewer: {}{nl}", yamledit::quote(reviewer)),
            );
            let out = yamledit::set_top_level(
                &out,
                "approval_timeout",
                &format!("approval_timeout: {approval_timeout_secs}s{nl}"),
            );
            Ok((out, raw_servers(text)?))
        })
    }

    /// Points the config's `policy:` key at `policy` (used when the shipped default policy is
    /// first saved to a file).
    pub fn set_policy(&self, policy: &Path) -> Result<(), AdminError> {
        let value = match (policy.parent(), self.path.parent()) {
            (Some(p), Some(c)) if p == c => policy
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| policy.display().to_string()),
            _ => policy.display().to_string(),
        };
        self.edit(|text| {
            let nl = yamledit::newline(text);
            let out = yamledit::set_top_level(
                text,
                "policy",
                &format!("policy: {}{nl}", yamledit::quote(&value)),
            );
            Ok((out, raw_servers(text)?))
        })
        .map(|_| ())
    }

    /// Applies a text edit: `change` returns the new text and the servers it must contain; the
    /// result is validated (gateway loader + servers read back) and written atomically, or
    /// nothing changes.
    fn edit(
        &self,
        change: impl FnOnce(&str) -> Result<(String, Vec<ServerEntry>), AdminError>,
    ) -> Result<Settings, AdminError> {
        let _guard = EDIT_LOCK.lock().unwrap_or_else(|p| p.into_inner());
        let before = self.text()?;
        let (after, expected) = change(&before)?;
        let config = Config::parse(&after, &self.path).map_err(|e| {
            AdminError::Invalid(format!(
                "the change would make the config invalid, nothing was written: {e}"
            ))
        })?;
        let got = raw_servers(&after)?;
        if got != expected {
            return Err(AdminError::Engine(
                "the edited config does not read back as intended; nothing was written".to_owned(),
            ));
        }
        // Someone else (an editor) changed the file since we read it: do not overwrite them.
        if self.text()? != before {
            return Err(AdminError::Conflict(format!(
                "{} changed while it was being edited; reload and try again",
                self.path.display()
            )));
        }
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|e| AdminError::io(format!("cannot create {}", dir.display()), e))?;
        }
        write_atomic(&self.path, after.as_bytes(), 0o600)?;
        Ok(Settings {
            reviewer: config.reviewer.clone(),
            approval_timeout_secs: config.approval_timeout.as_secs(),
            servers: got,
            config_path: Some(self.path.display().to_string()),
        })
    }
}

/// Refuses entries the file could not hold safely, before any text is produced.
fn check_entry(entry: &ServerEntry) -> Result<(), AdminError> {
    let bad = |why: String| Err(AdminError::Invalid(why));
    let name = &entry.name;
    if !is_valid_name(name) {
        return bad(format!(
            "invalid server name {name:?}: use lowercase letters, digits and dashes ([a-z0-9-]+, at most 64 characters)"
        ));
    }
    if name == BUILTIN_SERVER {
        return bad(format!(
            "`{BUILTIN_SERVER}` is reserved for Cordon's built-in tools"
        ));
    }
    let one_line = |what: &str, v: &str| -> Result<(), AdminError> {
        if v.len() > MAX_FIELD || v.chars().any(char::is_control) {
            return Err(AdminError::Invalid(format!(
                "servers.{name}.{what}: must be one line of at most {MAX_FIELD} bytes"
            )));
        }
        Ok(())
    };
    let value = |what: &str, v: &str| -> Result<(), AdminError> {
        if v.len() > MAX_FIELD || v.contains('\0') {
            return Err(AdminError::Invalid(format!(
                "servers.{name}.{what}: at most {MAX_FIELD} bytes, no NUL"
            )));
        }
        Ok(())
    };
    let secret = |what: &str, v: &str| -> Result<(), AdminError> {
        if !v.contains("${keychain:") && cordon_secrets::has_credential_prefix(v) {
            return Err(AdminError::Invalid(format!(
                "servers.{name}.{what} looks like a credential: store it in the keychain (Secrets \
                 page) and write `${{keychain:NAME}}` instead"
            )));
        }
        Ok(())
    };
    if entry.args.len() > MAX_ITEMS
        || entry.env.len() > MAX_ITEMS
        || entry.headers.len() > MAX_ITEMS
    {
        return bad(format!("servers.{name}: too many entries"));
    }
    for (i, arg) in entry.args.iter().enumerate() {
        value(&format!("args[{i}]"), arg)?;
    }
    for (k, v) in &entry.env {
        if k.is_empty() || k.contains('=') {
            return bad(format!("servers.{name}.env: invalid variable name {k:?}"));
        }
        one_line(&format!("env key {k:?}"), k)?;
        value(&format!("env.{k}"), v)?;
        secret(&format!("env.{k}"), v)?;
    }
    for (k, v) in &entry.headers {
        if k.is_empty() || !k.bytes().all(|b| b.is_ascii_graphic() && b != b':') {
            return bad(format!("servers.{name}.headers: invalid header name {k:?}"));
        }
        one_line(&format!("headers.{k}"), v)?;
        secret(&format!("headers.{k}"), v)?;
    }
    match entry.transport {
        Transport::Stdio => {
            match entry.command.as_deref().map(str::trim) {
                Some(c) if !c.is_empty() => one_line("command", c)?,
                _ => return bad(format!("servers.{name}: a stdio server needs a command")),
            }
            if let Some(cwd) = &entry.cwd {
                one_line("cwd", cwd)?;
            }
            if entry.url.is_some() || !entry.headers.is_empty() {
                return bad(format!(
                    "servers.{name}: a stdio server takes no url or headers"
                ));
            }
        }
        Transport::Http => {
            match entry.url.as_deref() {
                Some(u) if u.starts_with("http://") || u.starts_with("https://") => {
                    one_line("url", u)?
                }
                _ => {
                    return bad(format!(
                        "servers.{name}: an http server needs a url starting with http:// or https://"
                    ));
                }
            }
            if entry.command.is_some()
                || !entry.args.is_empty()
                || !entry.env.is_empty()
                || entry.cwd.is_some()
            {
                return bad(format!(
                    "servers.{name}: an http server takes no command, args, env or cwd"
                ));
            }
        }
    }
    Ok(())
}

/// The YAML lines of one server entry at `indent` spaces.
fn render(entry: &ServerEntry, indent: usize, nl: &str) -> String {
    let pad = " ".repeat(indent);
    let inner = " ".repeat(indent + 2);
    let deeper = " ".repeat(indent + 4);
    let q = yamledit::quote;
    let mut out = format!("{pad}{}:{nl}", yamledit::key(&entry.name));
    let map = |out: &mut String, label: &str, map: &BTreeMap<String, String>| {
        if !map.is_empty() {
            out.push_str(&format!("{inner}{label}:{nl}"));
            for (k, v) in map {
                out.push_str(&format!("{deeper}{}: {}{nl}", yamledit::key(k), q(v)));
            }
        }
    };
    match entry.transport {
        Transport::Stdio => {
            if let Some(command) = &entry.command {
                out.push_str(&format!("{inner}command: {}{nl}", q(command.trim())));
            }
            if !entry.args.is_empty() {
                let list: Vec<String> = entry.args.iter().map(|a| q(a)).collect();
                out.push_str(&format!("{inner}args: [{}]{nl}", list.join(", ")));
            }
            map(&mut out, "env", &entry.env);
            if let Some(cwd) = &entry.cwd {
                out.push_str(&format!("{inner}cwd: {}{nl}", q(cwd)));
            }
        }
        Transport::Http => {
            if let Some(url) = &entry.url {
                out.push_str(&format!("{inner}url: {}{nl}", q(url)));
            }
            map(&mut out, "headers", &entry.headers);
        }
    }
    out
}

fn add_server(text: &str, entry: &ServerEntry, all: &[ServerEntry]) -> Result<String, AdminError> {
    let nl = yamledit::newline(text);
    if yamledit::top_level(text, "servers").is_none() {
        return Ok(yamledit::set_top_level(
            text,
            "servers",
            &format!("servers:{nl}{}", render(entry, 2, nl)),
        ));
    }
    match yamledit::entries(text, "servers") {
        Some((indent, list)) if !list.is_empty() => {
            let at = list.last().map(|(_, s)| s.end).unwrap_or_default();
            Ok(yamledit::insert_at(text, at, &render(entry, indent, nl)))
        }
        _ => Ok(rewrite_servers(text, all)),
    }
}

fn replace_server(
    text: &str,
    old_name: &str,
    entry: &ServerEntry,
    all: &[ServerEntry],
) -> Result<String, AdminError> {
    let nl = yamledit::newline(text);
    match yamledit::entries(text, "servers") {
        Some((indent, list)) => match list.iter().find(|(n, _)| n == old_name) {
            Some((_, span)) => Ok(yamledit::replace_span(
                text,
                *span,
                &render(entry, indent, nl),
            )),
            None => Ok(rewrite_servers(text, all)),
        },
        None => Ok(rewrite_servers(text, all)),
    }
}

/// Rewrites the whole `servers:` block (when it is not a plain block mapping, e.g. flow style).
fn rewrite_servers(text: &str, all: &[ServerEntry]) -> String {
    let nl = yamledit::newline(text);
    if all.is_empty() {
        return yamledit::remove_top_level(text, "servers");
    }
    let mut block = format!("servers:{nl}");
    for entry in all {
        block.push_str(&render(entry, 2, nl));
    }
    yamledit::set_top_level(text, "servers", &block)
}

/// The servers as written in the file, in file order (not resolved: `cwd` stays relative,
/// references stay references).
pub fn raw_servers(text: &str) -> Result<Vec<ServerEntry>, AdminError> {
    if text.trim().is_empty() {
        return Ok(Vec::new());
    }
    let doc: yaml_serde::Value = yaml_serde::from_str(text)
        .map_err(|e| AdminError::Invalid(format!("the config file is not valid YAML: {e}")))?;
    let Some(servers) = doc.get("servers") else {
        return Ok(Vec::new());
    };
    let Some(map) = servers.as_mapping() else {
        if servers.is_null() {
            return Ok(Vec::new());
        }
        return Err(AdminError::Invalid("`servers` is not a mapping".to_owned()));
    };
    let scalar = |v: &yaml_serde::Value| -> Option<String> {
        match v {
            yaml_serde::Value::String(s) => Some(s.clone()),
            yaml_serde::Value::Number(n) => Some(n.to_string()),
            yaml_serde::Value::Bool(b) => Some(b.to_string()),
            _ => None,
        }
    };
    let strings = |v: Option<&yaml_serde::Value>| -> BTreeMap<String, String> {
        v.and_then(|v| v.as_mapping())
            .map(|m| {
                m.iter()
                    .filter_map(|(k, v)| Some((scalar(k)?, scalar(v)?)))
                    .collect()
            })
            .unwrap_or_default()
    };
    let mut out = Vec::new();
    for (name, spec) in map {
        let Some(name) = scalar(name) else { continue };
        let get = |k: &str| spec.get(k).and_then(scalar);
        let url = get("url");
        out.push(ServerEntry {
            transport: if url.is_some() {
                Transport::Http
            } else {
                Transport::Stdio
            },
            command: get("command"),
            args: spec
                .get("args")
                .and_then(|a| a.as_sequence())
                .map(|s| s.iter().filter_map(scalar).collect())
                .unwrap_or_default(),
            env: strings(spec.get("env")),
            cwd: get("cwd"),
            url,
            headers: strings(spec.get("headers")),
            name,
        });
    }
    Ok(out)
}
