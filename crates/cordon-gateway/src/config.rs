//! The engine's configuration file: upstream servers, agents, paths and limits.
//!
//! Parsed strictly (unknown keys are errors with line:col) because a typo in a security
//! configuration must never silently fall back to a default.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use serde::de::{self, Deserializer};

/// Environment variable naming the config file when `--config` is not given.
pub const CONFIG_ENV: &str = "CORDON_CONFIG";

/// Default time a held call waits for a reviewer before it is refused.
pub const DEFAULT_APPROVAL_TIMEOUT: Duration = Duration::from_secs(300);

/// Why a config could not be loaded: the message says where and how to fix it.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The YAML is malformed, has an unknown key or a bad value.
    #[error("{path}:{line}:{column}: {message}")]
    Syntax {
        /// The file.
        path: PathBuf,
        /// 1-based line (0 when unknown).
        line: usize,
        /// 1-based column (0 when unknown).
        column: usize,
        /// What is wrong.
        message: String,
    },
    /// The values parse but break a rule (e.g. a non-loopback listen address).
    #[error("{path}: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong and how to fix it.
        message: String,
    },
    /// No default location could be determined (no home directory).
    #[error("cannot determine a default {what} path: set it in the config file")]
    NoDefault {
        /// Which path.
        what: &'static str,
    },
}

/// Where the evidence checkpoint signing key lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SigningKey {
    /// The OS keychain (the default).
    Keychain,
    /// A key file (tests, headless machines without a keyring).
    File(PathBuf),
}

/// One upstream MCP server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerSpec {
    /// A child process speaking MCP on stdio.
    Stdio {
        /// Program to run.
        command: String,
        /// Its arguments.
        args: Vec<String>,
        /// Extra environment variables (on top of a minimal allowlist).
        env: BTreeMap<String, String>,
        /// Working directory (resolved against the config's directory).
        cwd: Option<PathBuf>,
    },
    /// A remote server speaking MCP Streamable HTTP.
    Remote {
        /// The endpoint URL.
        url: String,
        /// Extra HTTP headers (e.g. authorization).
        headers: BTreeMap<String, String>,
    },
}

/// The Streamable HTTP transport's limits (`http:` in the config).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpSpec {
    /// An HTTP session with no request in flight and none for this long is closed; its id is
    /// then answered 404, so the client re-initializes (`http.session_idle_timeout`, default 30m).
    pub session_idle_timeout: Duration,
    /// Most simultaneous HTTP connections (`http.max_connections`, default 1024, and always below
    /// the open-file limit); beyond, a newcomer evicts the connection that has waited longest for
    /// a request, and is closed at once only when every connection is busy with one.
    pub max_connections: usize,
    /// Time a connection has to send a request's headers, which is also how long a kept-alive
    /// connection may sit idle (`http.header_timeout`, default 30s).
    pub header_timeout: Duration,
}

impl Default for HttpSpec {
    fn default() -> HttpSpec {
        HttpSpec {
            session_idle_timeout: Duration::from_secs(30 * 60),
            max_connections: 1024,
            header_timeout: Duration::from_secs(30),
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHttp {
    session_idle_timeout: Option<HumanDuration>,
    max_connections: Option<usize>,
    header_timeout: Option<HumanDuration>,
}

/// An agent allowed to connect over HTTP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentSpec {
    /// Its bearer token.
    pub token: String,
}

/// The server name under which Cordon's own workspace tools are listed (`cordon__file_read`).
pub const BUILTIN_SERVER: &str = "cordon";

/// Cordon's built-in workspace tools: where they may act and how they are named.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkspaceSpec {
    /// Directories the built-in tools are confined to (absolute). Empty = every call refused.
    pub roots: Vec<PathBuf>,
    /// Whether the built-in tools are listed at all.
    pub builtin_tools: bool,
    /// Tool name → name shown to agents (without the `cordon__` prefix).
    pub rename: BTreeMap<String, String>,
    /// Commit identity `(name, email)` for `git_commit`, instead of the user's git config.
    pub identity: Option<(String, String)>,
}

impl Default for WorkspaceSpec {
    fn default() -> Self {
        WorkspaceSpec {
            roots: Vec::new(),
            builtin_tools: true,
            rename: BTreeMap::new(),
            identity: None,
        }
    }
}

/// The validated configuration, with every path absolute.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file it came from (None = built-in defaults).
    pub source: Option<PathBuf>,
    /// HTTP listen address (None = no HTTP transport).
    pub listen: Option<SocketAddr>,
    /// The HTTP transport's limits.
    pub http: HttpSpec,
    /// Control socket path.
    pub socket: PathBuf,
    /// Policy file or directory (None = the shipped default policy). With an organisation
    /// policy ([`Config::org_policy`]) this is the local policy layered on top (`policy.local`).
    pub policy: Option<PathBuf>,
    /// The organisation's policy from a git repository (`policy: {repo: …}`), if configured.
    pub org_policy: Option<OrgPolicySpec>,
    /// Evidence database.
    pub evidence: PathBuf,
    /// Checkpoint signing key storage.
    pub signing_key: SigningKey,
    /// Keyring service name.
    pub keychain_service: String,
    /// How long a held call waits for a reviewer.
    pub approval_timeout: Duration,
    /// MiB of agents' requests the engine holds at once, every transport together
    /// (`requests_in_flight_mib`; see [`crate::budget`]).
    pub requests_in_flight_mib: u32,
    /// Reviewer identity recorded on approvals.
    pub reviewer: String,
    /// Where [`Config::reviewer`] came from, in words (`the config file`, `$USER`, `the OS
    /// account (uid 1000)`), so the engine can say whom it records.
    pub reviewer_origin: String,
    /// HTTP agents by name.
    pub agents: BTreeMap<String, AgentSpec>,
    /// Workspace roots per agent (`agents.<name>.roots`): where that agent's writes may land
    /// (the blast radius). Agents of any transport may have roots; only those with a token
    /// connect over HTTP.
    pub agent_roots: BTreeMap<String, Vec<PathBuf>>,
    /// Upstream servers by name.
    pub servers: BTreeMap<String, ServerSpec>,
    /// The built-in workspace tools.
    pub workspace: WorkspaceSpec,
    /// The tool pins file (rug-pull defence: approved tool definitions).
    pub pins: PathBuf,
    /// Evidence shipping to a team store (`fleet:`), if configured.
    pub fleet: Option<FleetSpec>,
}

/// The organisation policy (`policy:` as a mapping): pulled from git, applied only from commits
/// signed by a trusted key; a local policy (`policy.local`) may only make it stricter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrgPolicySpec {
    /// Repository, ref, path, trusted keys and cache.
    pub source: cordon_fleet::orgpolicy::OrgPolicySource,
    /// How often it is pulled (default 5 minutes).
    pub pull_every: Duration,
}

/// Default pull interval of the organisation policy.
pub const DEFAULT_PULL_EVERY: Duration = Duration::from_secs(300);

/// Where this machine ships its evidence (`fleet:` in the config). Values may hold
/// `${keychain:NAME}` references (a database password, an API key), expanded when shipping starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FleetSpec {
    /// This machine's name in the team store (default: the host name).
    pub machine: Option<String>,
    /// PostgreSQL connection string of the team store.
    pub postgres: Option<String>,
    /// OTLP/HTTP logs endpoint (`…/v1/logs`).
    pub otlp: Option<String>,
    /// Extra headers for the OTLP endpoint.
    pub otlp_headers: BTreeMap<String, String>,
    /// How often new records are looked for (default 500ms).
    pub interval: Option<Duration>,
    /// Records per batch (default 500).
    pub batch: Option<usize>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    listen: Option<SocketAddr>,
    http: Option<RawHttp>,
    #[serde(default)]
    allow_non_loopback: bool,
    socket: Option<PathBuf>,
    policy: Option<RawPolicy>,
    evidence: Option<PathBuf>,
    signing_key: Option<String>,
    keychain_service: Option<String>,
    approval_timeout: Option<HumanDuration>,
    requests_in_flight_mib: Option<u32>,
    reviewer: Option<String>,
    #[serde(default)]
    agents: BTreeMap<Name, RawAgent>,
    #[serde(default)]
    servers: BTreeMap<Name, RawServer>,
    workspace: Option<RawWorkspace>,
    pins: Option<PathBuf>,
    fleet: Option<RawFleet>,
}

/// `policy:`: a path, or a mapping naming the organisation's policy repository.
#[derive(Debug)]
enum RawPolicy {
    Path(PathBuf),
    Org(RawOrgPolicy),
}

impl<'de> Deserialize<'de> for RawPolicy {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> de::Visitor<'de> for Visitor {
            type Value = RawPolicy;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a policy file or directory, or a mapping with `repo:`, `branch:`/`tag:`, `path:` and `trusted_keys:`")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<RawPolicy, E> {
                Ok(RawPolicy::Path(PathBuf::from(v)))
            }
            fn visit_map<A: de::MapAccess<'de>>(self, map: A) -> Result<RawPolicy, A::Error> {
                RawOrgPolicy::deserialize(de::value::MapAccessDeserializer::new(map))
                    .map(RawPolicy::Org)
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOrgPolicy {
    repo: String,
    branch: Option<String>,
    tag: Option<String>,
    path: Option<String>,
    pull_every: Option<HumanDuration>,
    #[serde(default)]
    trusted_keys: Vec<String>,
    local: Option<PathBuf>,
    cache: Option<PathBuf>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFleet {
    machine: Option<String>,
    postgres: Option<String>,
    otlp: Option<String>,
    #[serde(default)]
    otlp_headers: BTreeMap<String, String>,
    interval: Option<HumanDuration>,
    batch: Option<usize>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWorkspace {
    #[serde(default)]
    roots: Vec<PathBuf>,
    builtin_tools: Option<bool>,
    #[serde(default)]
    rename: BTreeMap<BuiltinName, ToolName>,
    identity: Option<RawIdentity>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawIdentity {
    name: String,
    email: String,
}

/// A built-in tool's own name (a key of `workspace.rename`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct BuiltinName(String);

impl<'de> Deserialize<'de> for BuiltinName {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        if cordon_tools::TOOL_NAMES.contains(&text.as_str()) {
            Ok(BuiltinName(text))
        } else {
            Err(de::Error::custom(format!(
                "`{text}` is not a built-in tool; known: {}",
                cordon_tools::TOOL_NAMES.join(", ")
            )))
        }
    }
}

/// A tool name shown to agents: `[a-z0-9_-]+`, at most 64 characters, no `__`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct ToolName(String);

impl<'de> Deserialize<'de> for ToolName {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        let ok = !text.is_empty()
            && text.len() <= 64
            && !text.contains("__")
            && text
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
        if ok {
            Ok(ToolName(text))
        } else {
            Err(de::Error::custom(format!(
                "invalid tool name `{text}`: use [a-z0-9_-]+ (at most 64 characters, no `__`)"
            )))
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAgent {
    token: Option<String>,
    roots: Option<Vec<PathBuf>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawServer {
    command: Option<String>,
    #[serde(default)]
    args: Vec<String>,
    #[serde(default)]
    env: BTreeMap<String, String>,
    cwd: Option<PathBuf>,
    url: Option<String>,
    #[serde(default)]
    headers: BTreeMap<String, String>,
}

/// A server or agent name: `[a-z0-9-]+`, so `<server>__<tool>` can never be ambiguous.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Name(String);

impl<'de> Deserialize<'de> for Name {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        if is_valid_name(&text) {
            Ok(Name(text))
        } else {
            Err(de::Error::custom(format!(
                "invalid name `{text}`: use lowercase letters, digits and single dashes ([a-z0-9-]+, at most 64 characters)"
            )))
        }
    }
}

/// Whether `name` is a valid server/agent name (`[a-z0-9-]+`, 1..=64 chars).
pub fn is_valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// A duration written as `500ms`, `30s`, `5m` or `1h`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct HumanDuration(Duration);

impl<'de> Deserialize<'de> for HumanDuration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl de::Visitor<'_> for Visitor {
            type Value = HumanDuration;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a duration such as 500ms, 30s, 5m or 1h")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<HumanDuration, E> {
                parse_duration(v).map(HumanDuration).map_err(E::custom)
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<HumanDuration, E> {
                Err(E::custom(format!(
                    "`{v}` has no unit: write e.g. {v}s or {v}ms"
                )))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<HumanDuration, E> {
                Err(E::custom(format!(
                    "`{v}` is not a duration: write e.g. 30s"
                )))
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

/// What the config's durations accept: waits of at most a week, no `d` unit (the syntax and
/// its parser are the policy's: `cordon_policy::parse_duration`).
const CONFIG_DURATIONS: cordon_policy::DurationBounds = cordon_policy::DurationBounds {
    max: Duration::from_secs(7 * 24 * 3600),
    days: false,
};

/// Parses `500ms`, `30s`, `5m`, `1h` (a positive integer and a unit), at most 168h.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    use cordon_policy::DurationError;
    cordon_policy::parse_duration(text, CONFIG_DURATIONS).map_err(|e| {
        let text = text.trim();
        match e {
            DurationError::Zero => format!("invalid duration `{text}`: must be greater than zero"),
            DurationError::TooLong => format!("invalid duration `{text}`: at most 168h"),
            DurationError::Malformed | DurationError::BadUnit => {
                format!("invalid duration `{text}`: write e.g. 500ms, 30s, 5m or 1h")
            }
        }
    })
}

impl Config {
    /// The default config file: `<config dir>/cordon/config.yaml`.
    pub fn default_path() -> Option<PathBuf> {
        dirs::config_dir().map(|dir| dir.join("cordon").join("config.yaml"))
    }

    /// Picks the config for a command: the `--config` flag, else `CORDON_CONFIG`, else the default
    /// path. An explicit file that is missing is an error; a missing default file means defaults.
    pub fn resolve(flag: Option<PathBuf>) -> Result<Config, ConfigError> {
        if let Some(path) = Config::explicit_path(flag) {
            return Config::load(&path);
        }
        match Config::default_path() {
            Some(path) if path.exists() => Config::load(&path),
            _ => Config::defaults(),
        }
    }

    /// The file [`Config::resolve`] must load whatever happens (the `--config` flag, else
    /// `CORDON_CONFIG`), if one is named: lets a caller whose config did not load say, and
    /// later retry, exactly that file.
    pub fn explicit_path(flag: Option<PathBuf>) -> Option<PathBuf> {
        flag.or_else(|| {
            std::env::var_os(CONFIG_ENV)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        })
    }

    /// The configuration when no file exists: every value at its default.
    pub fn defaults() -> Result<Config, ConfigError> {
        let base = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/"));
        Config::from_raw(RawConfig::default(), &base, None)
    }

    /// Loads and validates a config file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let path = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
        Config::parse(&text, &path)
    }

    /// Parses config text as if it were the file `path` (relative paths resolve against its
    /// directory).
    pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
        let raw: RawConfig = if text.trim().is_empty() {
            RawConfig::default()
        } else {
            yaml_serde::from_str(text).map_err(|error| {
                let (line, column) = error
                    .location()
                    .map(|l| (l.line(), l.column()))
                    .unwrap_or((0, 0));
                ConfigError::Syntax {
                    path: path.to_path_buf(),
                    line,
                    column,
                    message: error.to_string(),
                }
            })?
        };
        let base = path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."));
        Config::from_raw(raw, &base, Some(path.to_path_buf()))
    }

    fn from_raw(
        raw: RawConfig,
        base: &Path,
        source: Option<PathBuf>,
    ) -> Result<Config, ConfigError> {
        let file = source
            .clone()
            .unwrap_or_else(|| PathBuf::from("<defaults>"));
        let invalid = |message: String| ConfigError::Invalid {
            path: file.clone(),
            message,
        };
        let resolve = |p: PathBuf| {
            let joined = if p.is_absolute() { p } else { base.join(p) };
            // Drop `.` components so paths print cleanly; `..` stays (symlinks make it unsafe).
            joined
                .components()
                .filter(|c| !matches!(c, std::path::Component::CurDir))
                .collect::<PathBuf>()
        };

        if let Some(addr) = raw.listen
            && !addr.ip().is_loopback()
            && !raw.allow_non_loopback
        {
            return Err(invalid(format!(
                "listen: {addr} is not a loopback address; Cordon serves 127.0.0.1/[::1] only \
                 (set `allow_non_loopback: true` if you really mean it)"
            )));
        }
        let socket = match raw.socket {
            Some(p) => resolve(p),
            None => dirs::runtime_dir()
                .or_else(dirs::data_dir)
                .map(|d| d.join("cordon").join("cordon.sock"))
                .ok_or(ConfigError::NoDefault { what: "socket" })?,
        };
        let (policy, org_policy) = match raw.policy {
            Some(RawPolicy::Path(p)) => (Some(resolve(p)), None),
            Some(RawPolicy::Org(org)) => {
                let reference = match (org.branch, org.tag) {
                    (Some(b), None) => cordon_fleet::orgpolicy::GitRef::Branch(b),
                    (None, Some(t)) => cordon_fleet::orgpolicy::GitRef::Tag(t),
                    _ => {
                        return Err(invalid(
                            "policy: name exactly one of `branch:` or `tag:`".to_owned(),
                        ));
                    }
                };
                // A URL stays as written; a local repository path resolves like other paths.
                let is_url = org.repo.contains("://")
                    || (!Path::new(&org.repo).is_absolute()
                        && org.repo.split('/').next().is_some_and(|h| h.contains(':')));
                let repo = if is_url {
                    org.repo
                } else {
                    resolve(PathBuf::from(&org.repo)).display().to_string()
                };
                let cache = match org.cache {
                    Some(p) => resolve(p),
                    None => dirs::data_dir()
                        .map(|d| d.join("cordon").join("org-policy"))
                        .ok_or(ConfigError::NoDefault {
                            what: "policy.cache",
                        })?,
                };
                let source = cordon_fleet::orgpolicy::OrgPolicySource {
                    repo,
                    reference,
                    path: org.path.unwrap_or_else(|| "policy.yaml".to_owned()),
                    trusted_keys: org.trusted_keys,
                    cache,
                };
                source
                    .validate()
                    .map_err(|e| invalid(format!("policy: {e}")))?;
                let pull_every = org.pull_every.map_or(DEFAULT_PULL_EVERY, |d| d.0);
                if pull_every < Duration::from_secs(1) {
                    return Err(invalid("policy.pull_every: must be at least 1s".to_owned()));
                }
                (
                    org.local.map(resolve),
                    Some(OrgPolicySpec { source, pull_every }),
                )
            }
            None => (
                dirs::config_dir()
                    .map(|d| d.join("cordon").join("policies"))
                    .filter(|p| p.exists()),
                None,
            ),
        };
        let evidence = match raw.evidence {
            Some(p) => resolve(p),
            None => dirs::data_dir()
                .map(|d| d.join("cordon").join("evidence.db"))
                .ok_or(ConfigError::NoDefault { what: "evidence" })?,
        };
        let signing_key = match raw.signing_key.as_deref() {
            None | Some("keychain") => SigningKey::Keychain,
            Some(other) => match other.strip_prefix("file:") {
                Some(p) if !p.is_empty() => SigningKey::File(resolve(PathBuf::from(p))),
                _ => {
                    return Err(invalid(format!(
                        "signing_key: `{other}` is neither `keychain` nor `file:PATH`"
                    )));
                }
            },
        };
        let keychain_service = raw.keychain_service.unwrap_or_else(|| "cordon".to_owned());
        if keychain_service.is_empty() {
            return Err(invalid("keychain_service: must not be empty".to_owned()));
        }
        let (reviewer, reviewer_origin) = match raw.reviewer.filter(|r| !r.trim().is_empty()) {
            Some(r) => (r, "the config file".to_owned()),
            None => os_user_with_origin(),
        };

        let mut agents = BTreeMap::new();
        let mut tokens = std::collections::BTreeSet::new();
        let mut agent_roots = BTreeMap::new();
        for (Name(name), agent) in raw.agents {
            if let Some(roots) = agent.roots {
                if roots.is_empty() {
                    return Err(invalid(format!(
                        "agents.{name}.roots: give at least one directory (or drop the key)"
                    )));
                }
                agent_roots.insert(name.clone(), roots.into_iter().map(resolve).collect());
            }
            let Some(token) = agent.token else {
                if !agent_roots.contains_key(&name) {
                    return Err(invalid(format!(
                        "agents.{name}: needs a `token` (HTTP agents) or `roots` (workspace roots)"
                    )));
                }
                continue;
            };
            let agent = AgentSpec { token };
            if agent.token.trim().is_empty() {
                return Err(invalid(format!(
                    "agents.{name}.token: must not be empty (use a long random value)"
                )));
            }
            if agent.token.len() < 16 {
                tracing::warn!(agent = %name, "agent token is shorter than 16 characters: use a long random value");
            }
            if !tokens.insert(agent.token.clone()) {
                return Err(invalid(format!(
                    "agents.{name}.token: the same token is used by another agent"
                )));
            }
            agents.insert(name, AgentSpec { token: agent.token });
        }

        let mut servers = BTreeMap::new();
        for (Name(name), server) in raw.servers {
            if name == BUILTIN_SERVER {
                return Err(invalid(format!(
                    "servers.{name}: `{BUILTIN_SERVER}` is reserved for Cordon's built-in tools; \
                     name the server differently (switch the built-ins off with \
                     `workspace: {{builtin_tools: false}}`)"
                )));
            }
            if name == cordon_classify::NATIVE_SERVER {
                // Agents' own tools are recorded under this name and only calls from it get
                // the agents' mappings (housekeeping tools pass): an upstream must not borrow it.
                return Err(invalid(format!(
                    "servers.{name}: `{name}` is reserved for the agents' own tools (hooks); \
                     name the server differently"
                )));
            }
            if name.contains("__") {
                return Err(invalid(format!(
                    "servers.{name}: a server name must not contain `__`"
                )));
            }
            let spec = match (server.command, server.url) {
                (Some(command), None) => {
                    if !server.headers.is_empty() {
                        return Err(invalid(format!(
                            "servers.{name}.headers: only remote (url) servers take headers"
                        )));
                    }
                    ServerSpec::Stdio {
                        command,
                        args: server.args,
                        env: server.env,
                        cwd: server.cwd.map(resolve),
                    }
                }
                (None, Some(url)) => {
                    if !server.args.is_empty() || !server.env.is_empty() || server.cwd.is_some() {
                        return Err(invalid(format!(
                            "servers.{name}: a remote (url) server takes no args, env or cwd"
                        )));
                    }
                    if !(url.starts_with("http://") || url.starts_with("https://")) {
                        return Err(invalid(format!(
                            "servers.{name}.url: `{url}` must start with http:// or https://"
                        )));
                    }
                    ServerSpec::Remote {
                        url,
                        headers: server.headers,
                    }
                }
                (Some(_), Some(_)) => {
                    return Err(invalid(format!(
                        "servers.{name}: give either `command` (stdio) or `url` (remote), not both"
                    )));
                }
                (None, None) => {
                    return Err(invalid(format!(
                        "servers.{name}: needs `command` (stdio) or `url` (remote)"
                    )));
                }
            };
            check_references(&name, &spec).map_err(invalid)?;
            servers.insert(name, spec);
        }

        let workspace = match raw.workspace {
            None => WorkspaceSpec::default(),
            Some(w) => {
                let roots: Vec<PathBuf> = w.roots.into_iter().map(resolve).collect();
                let rename: BTreeMap<String, String> =
                    w.rename.into_iter().map(|(k, v)| (k.0, v.0)).collect();
                // Shown names must stay unique: a rename may not take another tool's name.
                let mut shown = std::collections::BTreeSet::new();
                for tool in cordon_tools::TOOL_NAMES {
                    let name = rename.get(tool).map(String::as_str).unwrap_or(tool);
                    if !shown.insert(name) {
                        return Err(invalid(format!(
                            "workspace.rename: two built-in tools would be named `{name}`"
                        )));
                    }
                }
                let identity = match w.identity {
                    None => None,
                    Some(id) if id.name.trim().is_empty() || !id.email.contains('@') => {
                        return Err(invalid(
                            "workspace.identity: needs a non-empty `name` and an `email` with @"
                                .to_owned(),
                        ));
                    }
                    Some(id) => Some((id.name, id.email)),
                };
                WorkspaceSpec {
                    roots,
                    builtin_tools: w.builtin_tools.unwrap_or(true),
                    rename,
                    identity,
                }
            }
        };

        let pins = match raw.pins {
            Some(p) => resolve(p),
            None => dirs::data_dir()
                .map(|d| d.join("cordon").join("pins.json"))
                .ok_or(ConfigError::NoDefault { what: "pins" })?,
        };

        let http = {
            let defaults = HttpSpec::default();
            let raw_http = raw.http.unwrap_or_default();
            let spec = HttpSpec {
                session_idle_timeout: raw_http
                    .session_idle_timeout
                    .map_or(defaults.session_idle_timeout, |d| d.0),
                max_connections: raw_http.max_connections.unwrap_or(defaults.max_connections),
                header_timeout: raw_http
                    .header_timeout
                    .map_or(defaults.header_timeout, |d| d.0),
            };
            if spec.max_connections == 0
                || spec.session_idle_timeout.is_zero()
                || spec.header_timeout.is_zero()
            {
                return Err(invalid(
                    "http: max_connections, session_idle_timeout and header_timeout must be above zero"
                        .to_owned(),
                ));
            }
            spec
        };

        let requests_in_flight_mib = raw
            .requests_in_flight_mib
            .unwrap_or(crate::budget::DEFAULT_MIB);
        if requests_in_flight_mib < crate::budget::MIN_MIB {
            return Err(invalid(format!(
                "requests_in_flight_mib: {requests_in_flight_mib} is below {}, the size of one \
                 message of the largest size agents may send",
                crate::budget::MIN_MIB
            )));
        }

        let fleet = match raw.fleet {
            None => None,
            Some(f) => {
                if f.postgres.is_none() && f.otlp.is_none() {
                    return Err(invalid(
                        "fleet: name a team store: `postgres: postgres://…` and/or `otlp: \
                         http://collector:4318/v1/logs`"
                            .to_owned(),
                    ));
                }
                if let Some(machine) = &f.machine
                    && (machine.trim().is_empty() || machine.chars().any(char::is_control))
                {
                    return Err(invalid(
                        "fleet.machine: must be a non-empty name without control characters"
                            .to_owned(),
                    ));
                }
                if f.batch == Some(0) {
                    return Err(invalid("fleet.batch: must be at least 1".to_owned()));
                }
                Some(FleetSpec {
                    machine: f.machine,
                    postgres: f.postgres,
                    otlp: f.otlp,
                    otlp_headers: f.otlp_headers,
                    interval: f.interval.map(|d| d.0),
                    batch: f.batch,
                })
            }
        };
        Ok(Config {
            fleet,
            pins,
            source,
            listen: raw.listen,
            http,
            socket,
            policy,
            org_policy,
            evidence,
            signing_key,
            keychain_service,
            approval_timeout: raw
                .approval_timeout
                .map(|d| d.0)
                .unwrap_or(DEFAULT_APPROVAL_TIMEOUT),
            requests_in_flight_mib,
            reviewer,
            reviewer_origin,
            agents,
            agent_roots,
            servers,
            workspace,
        })
    }
}

/// Where `${keychain:` may not appear: names, programs, URLs and paths are not secrets, and a
/// reference there would be passed on unexpanded or leak into logs.
const KEYCHAIN_MARK: &str = "${keychain:";

/// Validates the `${keychain:NAME}` references of one server at load time (before any keychain
/// access): allowed only in stdio `args`/`env` values and remote `headers` values, each well
/// formed. The message names the place, e.g. `servers.gh.env.T: …`.
fn check_references(name: &str, spec: &ServerSpec) -> Result<(), String> {
    let value = |place: String, text: &str| {
        cordon_secrets::references(text)
            .map(|_| ())
            .map_err(|e| format!("servers.{name}.{place}: {e}"))
    };
    let nowhere = |place: String, text: &str| {
        if text.contains(KEYCHAIN_MARK) {
            Err(format!(
                "servers.{name}.{place}: a `${{keychain:NAME}}` reference is allowed only in \
                 args, env values and header values"
            ))
        } else {
            Ok(())
        }
    };
    match spec {
        ServerSpec::Stdio {
            command,
            args,
            env,
            cwd,
        } => {
            nowhere("command".to_owned(), command)?;
            if let Some(cwd) = cwd {
                nowhere("cwd".to_owned(), &cwd.to_string_lossy())?;
            }
            for (i, arg) in args.iter().enumerate() {
                value(format!("args[{i}]"), arg)?;
            }
            for (key, text) in env {
                nowhere(format!("env.{key} (the variable's name)"), key)?;
                value(format!("env.{key}"), text)?;
            }
        }
        ServerSpec::Remote { url, headers } => {
            nowhere("url".to_owned(), url)?;
            for (key, text) in headers {
                nowhere(format!("headers.{key} (the header's name)"), key)?;
                value(format!("headers.{key}"), text)?;
            }
        }
    }
    Ok(())
}

/// The OS user name, the default reviewer identity.
pub fn os_user() -> String {
    os_user_with_origin().0
}

/// The OS user name and where it came from: `$USER`/`$USERNAME`/`$LOGNAME`, else the account
/// database entry of the process's user id (a service started without a login environment),
/// else `unknown`. The origin is said aloud by `cordon serve` so a reviewer is never silently
/// recorded as someone else.
pub fn os_user_with_origin() -> (String, String) {
    if let Some((key, name)) = ["USER", "USERNAME", "LOGNAME"].iter().find_map(|k| {
        std::env::var(k)
            .ok()
            .filter(|v| !v.trim().is_empty())
            .map(|v| (*k, v))
    }) {
        return (name, format!("${key}"));
    }
    #[cfg(unix)]
    {
        let uid = nix::unistd::getuid();
        if let Ok(Some(user)) = nix::unistd::User::from_uid(uid) {
            return (user.name, format!("the OS account of uid {uid}"));
        }
        (
            format!("uid-{uid}"),
            format!("uid {uid} (no account name found)"),
        )
    }
    #[cfg(not(unix))]
    {
        (
            "unknown".to_owned(),
            "nothing: no USERNAME in the environment".to_owned(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(text, Path::new("/etc/cordon/config.yaml"))
    }

    fn syntax_at(text: &str) -> (usize, usize, String) {
        match parse(text) {
            Err(ConfigError::Syntax {
                line,
                column,
                message,
                ..
            }) => (line, column, message),
            other => panic!("expected a syntax error, got {other:?}"),
        }
    }

    /// The request budget defaults to 256 MiB, and a budget that could not hold one largest
    /// message is refused, naming the key.
    #[test]
    fn the_request_budget_holds_at_least_one_largest_message() {
        let config = parse("socket: /tmp/cordon-test/c.sock\n").unwrap();
        assert_eq!(config.requests_in_flight_mib, crate::budget::DEFAULT_MIB);
        let config =
            parse("socket: /tmp/cordon-test/c.sock\nrequests_in_flight_mib: 17\n").unwrap();
        assert_eq!(config.requests_in_flight_mib, 17);
        let error = parse("socket: /tmp/cordon-test/c.sock\nrequests_in_flight_mib: 16\n")
            .unwrap_err()
            .to_string();
        assert!(error.contains("requests_in_flight_mib"), "{error}");
    }

    #[test]
    fn full_example_parses_and_resolves_paths() {
        let config = parse(
            "listen: 127.0.0.1:7766\nsocket: /tmp/cordon-test/cordon.sock\npolicy: ./policies\n\
             evidence: ./evidence.db\nsigning_key: file:keys/k.pem\nkeychain_service: cordon-test\n\
             approval_timeout: 500ms\nreviewer: dev@example.com\nagents:\n  claude-code:\n    token: \"0123456789abcdef0\"\n\
             servers:\n  everything:\n    command: npx\n    args: [\"-y\", \"x\"]\n    env: {FOO: bar}\n    cwd: ./w\n\
             \x20 remote:\n    url: https://mcp.example.com/mcp\n    headers: {Authorization: \"Bearer x\"}\n",
        )
        .unwrap();
        assert_eq!(config.listen, Some("127.0.0.1:7766".parse().unwrap()));
        assert_eq!(config.policy, Some(PathBuf::from("/etc/cordon/policies")));
        assert_eq!(config.evidence, PathBuf::from("/etc/cordon/evidence.db"));
        assert_eq!(
            config.signing_key,
            SigningKey::File(PathBuf::from("/etc/cordon/keys/k.pem"))
        );
        assert_eq!(config.approval_timeout, Duration::from_millis(500));
        assert_eq!(config.reviewer, "dev@example.com");
        assert_eq!(config.agents.len(), 1);
        match config.servers.get("everything").unwrap() {
            ServerSpec::Stdio { cwd, env, .. } => {
                assert_eq!(cwd.as_deref(), Some(Path::new("/etc/cordon/w")));
                assert_eq!(env.get("FOO").map(String::as_str), Some("bar"));
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            config.servers.get("remote").unwrap(),
            ServerSpec::Remote { .. }
        ));
    }

    #[test]
    fn unknown_top_level_key_has_line_and_column() {
        let (line, column, message) = syntax_at("socket: /tmp/x.sock\nlisten_addr: 1\n");
        assert_eq!((line, column), (2, 1));
        assert!(message.contains("listen_addr"), "{message}");
    }

    #[test]
    fn unknown_server_key_has_line_and_column() {
        let (line, column, message) =
            syntax_at("servers:\n  fs:\n    command: npx\n    argz: []\n");
        assert_eq!((line, column), (4, 5));
        assert!(message.contains("argz"), "{message}");
    }

    #[test]
    fn bad_duration_and_bad_name_have_locations() {
        let (line, _, message) = syntax_at("socket: /x\napproval_timeout: 5 minutes\n");
        assert_eq!(line, 2);
        assert!(message.contains("invalid duration"), "{message}");
        let (line, _, message) = syntax_at("approval_timeout: 30\n");
        assert_eq!(line, 1);
        assert!(message.contains("no unit"), "{message}");
        let (line, _, message) = syntax_at("servers:\n  Bad_Name:\n    command: x\n");
        assert_eq!(line, 2);
        assert!(message.contains("invalid name"), "{message}");
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        for bad in [
            "",
            "0s",
            "5",
            "m",
            "-1s",
            "1.5s",
            "5d",
            "99999999999999999999h",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn non_loopback_listen_is_refused_unless_allowed() {
        let error = parse("listen: 0.0.0.0:7766\n").unwrap_err();
        assert!(error.to_string().contains("loopback"), "{error}");
        assert!(parse("listen: 0.0.0.0:7766\nallow_non_loopback: true\n").is_ok());
        assert!(parse("listen: \"[::1]:7766\"\n").is_ok());
    }

    #[test]
    fn server_shape_is_validated() {
        assert!(parse("servers:\n  a:\n    args: []\n").is_err());
        assert!(parse("servers:\n  a:\n    command: x\n    url: http://h/mcp\n").is_err());
        assert!(parse("servers:\n  a:\n    url: ftp://h\n").is_err());
        assert!(parse("servers:\n  a--b:\n    command: x\n").is_ok());
        assert!(parse("servers:\n  a__b:\n    command: x\n").is_err());
    }

    #[test]
    fn weak_or_shared_tokens_are_refused() {
        assert!(parse("agents:\n  a:\n    token: \"\"\n").is_err());
        let shared =
            "agents:\n  a:\n    token: 0123456789abcdef\n  b:\n    token: 0123456789abcdef\n";
        assert!(parse(shared).is_err());
    }

    #[test]
    fn agents_may_have_roots_with_or_without_a_token() {
        let config = parse(
            "agents:\n  claude-code:\n    roots: [ws, /abs/dir]\n  bot:\n    token: 0123456789abcdef01\n    roots: [ci]\n",
        )
        .unwrap();
        // Only agents with a token connect over HTTP; roots resolve against the config's dir.
        assert_eq!(config.agents.keys().collect::<Vec<_>>(), vec!["bot"]);
        let roots = &config.agent_roots["claude-code"];
        assert!(
            roots[0].is_absolute() && roots[0].ends_with("ws"),
            "{roots:?}"
        );
        assert_eq!(roots[1], PathBuf::from("/abs/dir"));
        assert_eq!(config.agent_roots["bot"].len(), 1);
        // Neither a token nor roots, empty roots, unknown keys: refused.
        assert!(parse("agents:\n  a: {}\n").is_err());
        assert!(parse("agents:\n  a:\n    roots: []\n").is_err());
        assert!(parse("agents:\n  a:\n    root: [x]\n").is_err());
    }

    #[test]
    fn bad_signing_key_is_refused() {
        assert!(parse("signing_key: vault\n").is_err());
        assert!(parse("signing_key: \"file:\"\n").is_err());
    }

    #[test]
    fn empty_file_means_defaults() {
        let config = parse("").unwrap();
        assert_eq!(config.approval_timeout, DEFAULT_APPROVAL_TIMEOUT);
        assert_eq!(config.signing_key, SigningKey::Keychain);
        assert!(config.servers.is_empty());
    }

    #[test]
    fn workspace_section_parses_with_defaults_and_renames() {
        let config = parse("").unwrap();
        assert!(config.workspace.builtin_tools);
        assert!(config.workspace.roots.is_empty());
        let config = parse(
            "workspace:\n  roots: [./repo, /abs]\n  builtin_tools: false\n  rename: {file_read: read}\n  \
             identity: {name: Bot, email: bot@example.com}\n",
        )
        .unwrap();
        let w = &config.workspace;
        assert_eq!(
            w.roots,
            vec![PathBuf::from("/etc/cordon/repo"), PathBuf::from("/abs")]
        );
        assert!(!w.builtin_tools);
        assert_eq!(w.rename.get("file_read").map(String::as_str), Some("read"));
        assert_eq!(
            w.identity,
            Some(("Bot".to_owned(), "bot@example.com".to_owned()))
        );
    }

    #[test]
    fn workspace_mistakes_have_locations_or_messages() {
        let (line, column, message) = syntax_at("workspace:\n  rootz: [a]\n");
        assert_eq!((line, column), (2, 3));
        assert!(message.contains("rootz"), "{message}");
        let (line, _, message) = syntax_at("workspace:\n  rename:\n    file_nope: x\n");
        assert_eq!(line, 3);
        assert!(message.contains("not a built-in tool"), "{message}");
        let (line, _, message) = syntax_at("workspace:\n  rename:\n    file_read: \"a__b\"\n");
        assert_eq!(line, 3);
        assert!(message.contains("invalid tool name"), "{message}");
        let (line, _, _) = syntax_at("workspace:\n  builtin_tools: maybe\n");
        assert_eq!(line, 2);
        let clash = parse("workspace:\n  rename: {file_read: file_write}\n").unwrap_err();
        assert!(clash.to_string().contains("two built-in tools"), "{clash}");
        let bad_id = parse("workspace:\n  identity: {name: \"\", email: x}\n").unwrap_err();
        assert!(bad_id.to_string().contains("identity"), "{bad_id}");
        let reserved = parse("servers:\n  cordon:\n    command: x\n").unwrap_err();
        assert!(reserved.to_string().contains("reserved"), "{reserved}");
        let native = parse("servers:\n  native:\n    command: x\n").unwrap_err();
        assert!(native.to_string().contains("reserved"), "{native}");
        assert_eq!(crate::native::NATIVE_SERVER, cordon_classify::NATIVE_SERVER);
    }

    #[test]
    fn keychain_references_are_checked_where_they_appear() {
        let ok = parse(
            "servers:\n  gh:\n    command: x\n    args: [\"--token=${keychain:GH_TOKEN}\"]\n    \
             env: {T: \"${keychain:GH_TOKEN}\"}\n  r:\n    url: https://h/mcp\n    \
             headers: {Authorization: \"Bearer ${keychain:R_TOKEN}\"}\n",
        );
        assert!(ok.is_ok(), "{ok:?}");
        for (text, place) in [
            (
                "servers:\n  gh:\n    command: x\n    env: {T: \"${keychain:bad name}\"}\n",
                "servers.gh.env.T",
            ),
            (
                "servers:\n  gh:\n    command: x\n    args: [a, \"${keychain:}\"]\n",
                "servers.gh.args[1]",
            ),
            (
                "servers:\n  gh:\n    command: x\n    env: {T: \"${keychain:X\"}\n",
                "servers.gh.env.T",
            ),
            (
                "servers:\n  gh:\n    command: \"${keychain:X}\"\n",
                "servers.gh.command",
            ),
            (
                "servers:\n  gh:\n    command: x\n    cwd: \"${keychain:X}\"\n",
                "servers.gh.cwd",
            ),
            (
                "servers:\n  gh:\n    command: x\n    env: {\"${keychain:X}\": v}\n",
                "servers.gh.env.",
            ),
            (
                "servers:\n  r:\n    url: \"https://h/${keychain:X}\"\n",
                "servers.r.url",
            ),
            (
                "servers:\n  r:\n    url: https://h/\n    headers: {\"${keychain:X}\": v}\n",
                "servers.r.headers.",
            ),
            (
                "servers:\n  r:\n    url: https://h/\n    headers: {A: \"${keychain:a/b}\"}\n",
                "servers.r.headers.A",
            ),
        ] {
            let error = parse(text).expect_err(text).to_string();
            assert!(error.contains(place), "{text}: {error}");
        }
    }

    #[test]
    fn pins_path_defaults_and_resolves() {
        let config = parse("pins: ./p.json\n").unwrap();
        assert_eq!(config.pins, PathBuf::from("/etc/cordon/p.json"));
        assert!(parse("").unwrap().pins.ends_with("cordon/pins.json"));
    }

    #[test]
    fn missing_explicit_file_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let error = Config::resolve(Some(dir.path().join("nope.yaml"))).unwrap_err();
        assert!(matches!(error, ConfigError::Read { .. }), "{error}");
    }
}
