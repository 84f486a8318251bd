//! The organisation's policy, pulled from a git repository and applied only from commits signed
//! by keys the team trusts.
//!
//! A pull runs the real `git` binary: it fetches the configured branch or tag from the configured
//! repository (a URL or a local path) into a private bare cache under Cordon's data directory
//! (0700), then reads the policy out of the fetched commit. Nothing is ever checked out, and the
//! cache is treated as hostile, because the agent runs as the same OS user and could have edited
//! any of it (its config, hooks, refs, objects, replace refs, alternates):
//!
//! - every git command runs with a cleared `GIT_*` environment, no system or global config
//!   (`GIT_CONFIG_NOSYSTEM`, `GIT_CONFIG_GLOBAL=/dev/null`), replace refs off, hooks off
//!   (`core.hooksPath=/dev/null`), the `ext::` transport off, and the security-relevant keys set
//!   on the command line (which wins over the cache's own config, rewritten before every pull
//!   anyway);
//! - every object read from the cache (the commit, each tree on the path, each policy blob) is
//!   hashed here and must hash to the id it was asked for, so a swapped object file is detected;
//! - the signature is verified by git's own `git verify-commit` (`gpg.format=ssh`,
//!   `gpg.ssh.allowedSignersFile` = a file written from the trusted keys in Cordon's config,
//!   `gpg.minTrustLevel=fully`), run in a fresh private repository that holds only the exact
//!   commit bytes read and hash-checked here, so what is verified is what is applied. Only SSH
//!   signatures are accepted (a PGP signature would be checked against the user's own keyring,
//!   which the agent can write to);
//! - the policy is read from that verified commit's tree, never from a work tree or a ref.
//!
//! Every error fails closed: the caller keeps the last good policy (or refuses calls when there
//! is none) and reports the [`OrgPolicyError`].

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use sha1::{Digest, Sha1};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Largest object read from the cache (a policy file is far smaller; a bigger object is refused
/// rather than read into memory).
const MAX_OBJECT_BYTES: usize = 4 << 20;
/// Most policy files read from a policy directory.
const MAX_FILES: usize = 64;
/// How long one git command may take (a fetch over a slow network included).
pub const GIT_TIMEOUT: Duration = Duration::from_secs(120);

/// Which ref of the repository carries the policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GitRef {
    /// A branch: its newest commit.
    Branch(String),
    /// A tag (lightweight or annotated): the commit it names.
    Tag(String),
}

impl GitRef {
    /// The full ref name on the remote.
    pub fn full_name(&self) -> String {
        match self {
            GitRef::Branch(b) => format!("refs/heads/{b}"),
            GitRef::Tag(t) => format!("refs/tags/{t}"),
        }
    }
}

impl std::fmt::Display for GitRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            GitRef::Branch(b) => write!(f, "branch {b}"),
            GitRef::Tag(t) => write!(f, "tag {t}"),
        }
    }
}

/// Where the organisation policy comes from and whom the team trusts to sign it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrgPolicySource {
    /// The repository: a URL (`https://…`, `ssh://…`, `git@host:path`, `file://…`) or a local path.
    pub repo: String,
    /// The branch or tag.
    pub reference: GitRef,
    /// The policy file (or directory of `*.yaml` files) inside the repository.
    pub path: String,
    /// Trusted SSH public keys (`ssh-ed25519 AAAA… comment` lines): a commit is applied only
    /// when signed by one of them.
    pub trusted_keys: Vec<String>,
    /// The private cache directory (created 0700).
    pub cache: PathBuf,
}

/// One policy file read from a verified commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyFile {
    /// Its path inside the repository.
    pub path: String,
    /// Its text.
    pub text: String,
}

/// A policy read from a commit whose signature verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pulled {
    /// The commit id (40 hex): the policy's version.
    pub commit: String,
    /// Who signed it: the principal git reported (from the trusted key's comment) and the key's
    /// fingerprint.
    pub signer: String,
    /// The policy's files, in name order.
    pub files: Vec<PolicyFile>,
}

/// Why a pull (or reading the last good commit) failed. Each says what to do.
#[derive(Debug, thiserror::Error)]
pub enum OrgPolicyError {
    /// The configuration cannot work (no trusted keys, a malformed key, a bad ref name).
    #[error("organisation policy config: {0}")]
    Config(String),
    /// A git command failed (network, unknown ref, missing repository...).
    #[error("git {what} failed: {detail}")]
    Git {
        /// What was being done.
        what: String,
        /// git's own message.
        detail: String,
    },
    /// The commit carries no signature.
    #[error("commit {commit} is not signed: refused (only commits signed by a trusted key apply)")]
    Unsigned {
        /// The commit id.
        commit: String,
    },
    /// The commit's signature did not verify against the trusted keys.
    #[error("commit {commit} is not signed by a trusted key: refused ({detail})")]
    Untrusted {
        /// The commit id.
        commit: String,
        /// git's verification output.
        detail: String,
    },
    /// An object in the cache does not hash to its id, or is malformed: the cache was tampered
    /// with (or is corrupt).
    #[error("policy cache {cache}: {detail}: refused (the cache was tampered with or is corrupt)")]
    Tampered {
        /// The cache directory.
        cache: String,
        /// What did not match.
        detail: String,
    },
    /// The verified commit has no policy at the configured path.
    #[error("commit {commit} has no policy at `{path}`: {detail}")]
    Missing {
        /// The commit id.
        commit: String,
        /// The configured path.
        path: String,
        /// What was found instead.
        detail: String,
    },
    /// The cache directory could not be prepared.
    #[error("policy cache {path}: {source}")]
    Io {
        /// The path.
        path: String,
        /// The error.
        source: std::io::Error,
    },
}

impl OrgPolicySource {
    /// Checks what can be checked without running git: trusted keys, ref and path shapes.
    pub fn validate(&self) -> Result<(), OrgPolicyError> {
        let config = |m: String| Err(OrgPolicyError::Config(m));
        if self.repo.is_empty() || self.repo.starts_with('-') || has_control(&self.repo) {
            return config(format!(
                "`repo` {:?} is not a repository URL or path",
                self.repo
            ));
        }
        let name = match &self.reference {
            GitRef::Branch(n) | GitRef::Tag(n) => n,
        };
        if name.is_empty()
            || name.starts_with('-')
            || name.contains("..")
            || name.contains([' ', ':', '~', '^', '?', '*', '[', '\\'])
            || has_control(name)
        {
            return config(format!("`{}` is not a valid ref name", self.reference));
        }
        if path_components(&self.path).is_none() {
            return config(format!(
                "`path` {:?} must be a relative path inside the repository (no `..`)",
                self.path
            ));
        }
        if self.trusted_keys.is_empty() {
            return config(
                "`trusted_keys` is empty: no commit could ever be trusted; list the SSH public \
                 keys of the people who sign the policy"
                    .to_owned(),
            );
        }
        allowed_signers(&self.trusted_keys).map(|_| ())
    }

    /// The bare repository inside the cache.
    fn repo_dir(&self) -> PathBuf {
        self.cache.join("repo.git")
    }

    /// The file naming the last commit that verified and loaded.
    fn last_good_file(&self) -> PathBuf {
        self.cache.join("last-good")
    }

    /// Fetches the configured ref and reads the policy from the commit it names, verified.
    /// Does not move the last good commit: call [`OrgPolicySource::mark_good`] once the policy
    /// also loaded.
    pub async fn pull(&self) -> Result<Pulled, OrgPolicyError> {
        self.validate()?;
        self.prepare_cache()?;
        let repo = self.repo_dir();
        let target = "refs/cordon/fetched";
        let refspec = format!("+{}:{target}", self.reference.full_name());
        git(
            &repo,
            &[
                "fetch",
                "--no-tags",
                "--no-recurse-submodules",
                "--no-write-fetch-head",
                "--quiet",
                "--end-of-options",
                &self.repo,
                &refspec,
            ],
            None,
            &format!("fetch of {} from {}", self.reference, self.repo),
        )
        .await?;
        let out = git(
            &repo,
            &[
                "rev-parse",
                "--verify",
                "--end-of-options",
                &format!("{target}^{{commit}}"),
            ],
            None,
            "rev-parse of the fetched ref",
        )
        .await?;
        let commit = String::from_utf8_lossy(&out).trim().to_owned();
        if !is_commit_id(&commit) {
            return Err(self.tampered(format!("the fetched ref names `{commit}`, not a commit id")));
        }
        self.read_verified(&commit).await
    }

    /// Records `commit` as the last good one (after its policy loaded), so a restart without
    /// network starts from it.
    pub fn mark_good(&self, commit: &str) -> Result<(), OrgPolicyError> {
        let path = self.last_good_file();
        write_private(&path, format!("{commit}\n").as_bytes())
    }

    /// Reads and re-verifies the last good commit from the cache (None when there is none).
    /// The id file is as hostile as the rest of the cache: it is re-verified like a fresh pull,
    /// so at worst it names an older commit the team signed.
    pub async fn last_good(&self) -> Result<Option<Pulled>, OrgPolicyError> {
        let path = self.last_good_file();
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => {
                return Err(OrgPolicyError::Io {
                    path: path.display().to_string(),
                    source,
                });
            }
        };
        let commit = text.trim();
        if !is_commit_id(commit) {
            return Err(self.tampered(format!("{} does not hold a commit id", path.display())));
        }
        self.validate()?;
        self.prepare_cache()?;
        self.read_verified(commit).await.map(Some)
    }

    /// Verifies `commit`'s signature and reads the policy from its tree, every object
    /// hash-checked.
    async fn read_verified(&self, commit: &str) -> Result<Pulled, OrgPolicyError> {
        let repo = self.repo_dir();
        let body = self.object(&repo, "commit", commit).await?;
        if !has_header(&body, b"gpgsig ") {
            return Err(OrgPolicyError::Unsigned {
                commit: commit.to_owned(),
            });
        }
        if !has_header(&body, b"gpgsig -----BEGIN SSH SIGNATURE-----") {
            return Err(OrgPolicyError::Untrusted {
                commit: commit.to_owned(),
                detail:
                    "not an SSH signature; only SSH signatures by the trusted keys are accepted"
                        .to_owned(),
            });
        }
        let signer = self.verify_signature(commit, &body).await?;
        let tree = commit_tree(&body)
            .ok_or_else(|| self.tampered(format!("commit {commit} has no tree line")))?;
        let files = self.read_policy(&repo, commit, &tree).await?;
        Ok(Pulled {
            commit: commit.to_owned(),
            signer,
            files,
        })
    }

    /// Runs `git verify-commit` on exactly `body` (which hashes to `commit`) in a fresh private
    /// repository holding only that object; returns the signer git reported.
    async fn verify_signature(&self, commit: &str, body: &[u8]) -> Result<String, OrgPolicyError> {
        let dir = tempfile::Builder::new()
            .prefix("verify-")
            .tempdir_in(&self.cache)
            .map_err(|source| OrgPolicyError::Io {
                path: self.cache.display().to_string(),
                source,
            })?;
        set_private(dir.path(), true)?;
        let signers = dir.path().join("allowed_signers");
        write_private(&signers, allowed_signers(&self.trusted_keys)?.as_bytes())?;
        let fresh = dir.path().join("repo.git");
        git_plain(
            dir.path(),
            &["init", "--bare", "--quiet", "--end-of-options", "repo.git"],
        )
        .await?;
        let out = git(
            &fresh,
            &["hash-object", "-w", "-t", "commit", "--stdin"],
            Some(body),
            "writing the commit to the verification repository",
        )
        .await?;
        if String::from_utf8_lossy(&out).trim() != commit {
            return Err(self.tampered(format!("commit {commit} does not hash to its id")));
        }
        let signers_arg = format!("gpg.ssh.allowedSignersFile={}", signers.display());
        let out = run(
            &fresh,
            &[
                "-c",
                "gpg.format=ssh",
                "-c",
                &signers_arg,
                "-c",
                "gpg.ssh.program=ssh-keygen",
                "-c",
                "gpg.ssh.revocationFile=",
                "-c",
                "gpg.minTrustLevel=fully",
                "-c",
                "gpg.program=false",
                "-c",
                "gpg.x509.program=false",
                "verify-commit",
                "--end-of-options",
                commit,
            ],
            None,
        )
        .await?;
        let stderr = String::from_utf8_lossy(&out.stderr).trim().to_owned();
        if !out.success {
            return Err(OrgPolicyError::Untrusted {
                commit: commit.to_owned(),
                detail: if stderr.is_empty() {
                    "git verify-commit failed".to_owned()
                } else {
                    stderr.replace('\n', "; ")
                },
            });
        }
        // `Good "git" signature for PRINCIPAL with ED25519 key SHA256:…`
        let signer = stderr
            .lines()
            .find_map(|l| l.strip_prefix("Good \"git\" signature for "))
            .map(|s| s.replace(" with ", ", "))
            .ok_or_else(|| OrgPolicyError::Untrusted {
                commit: commit.to_owned(),
                detail: format!("git verify-commit did not name a trusted signer: {stderr}"),
            })?;
        Ok(signer)
    }

    /// The policy file(s) at the configured path of `tree`.
    async fn read_policy(
        &self,
        repo: &Path,
        commit: &str,
        tree: &str,
    ) -> Result<Vec<PolicyFile>, OrgPolicyError> {
        let missing = |detail: String| OrgPolicyError::Missing {
            commit: commit.to_owned(),
            path: self.path.clone(),
            detail,
        };
        let components = path_components(&self.path)
            .ok_or_else(|| OrgPolicyError::Config(format!("bad path {:?}", self.path)))?;
        let (mut mode, mut id) = ("40000".to_owned(), tree.to_owned());
        let mut walked = String::new();
        for component in &components {
            if mode != "40000" {
                return Err(missing(format!("`{walked}` is not a directory")));
            }
            let body = self.object(repo, "tree", &id).await?;
            let entries = parse_tree(&body)
                .ok_or_else(|| self.tampered(format!("tree {id} is malformed")))?;
            let entry = entries
                .into_iter()
                .find(|e| e.name == *component)
                .ok_or_else(|| missing(format!("no `{component}` in `{walked}/`")))?;
            walked = if walked.is_empty() {
                component.clone()
            } else {
                format!("{walked}/{component}")
            };
            (mode, id) = (entry.mode, entry.id);
        }
        let mut files = Vec::new();
        match mode.as_str() {
            "100644" | "100755" => files.push(PolicyFile {
                path: self.path.clone(),
                text: self.text(repo, &id, &self.path).await?,
            }),
            "40000" => {
                let body = self.object(repo, "tree", &id).await?;
                let mut entries = parse_tree(&body)
                    .ok_or_else(|| self.tampered(format!("tree {id} is malformed")))?;
                entries.retain(|e| {
                    (e.mode == "100644" || e.mode == "100755")
                        && !e.name.starts_with('.')
                        && (e.name.ends_with(".yaml") || e.name.ends_with(".yml"))
                });
                entries.sort_by(|a, b| a.name.cmp(&b.name));
                if entries.is_empty() {
                    return Err(missing(
                        "the directory has no *.yaml or *.yml files".to_owned(),
                    ));
                }
                if entries.len() > MAX_FILES {
                    return Err(missing(format!("more than {MAX_FILES} policy files")));
                }
                for entry in entries {
                    let path = if walked.is_empty() {
                        entry.name.clone()
                    } else {
                        format!("{walked}/{}", entry.name)
                    };
                    let text = self.text(repo, &entry.id, &path).await?;
                    files.push(PolicyFile { path, text });
                }
            }
            "120000" => return Err(missing("it is a symbolic link".to_owned())),
            other => return Err(missing(format!("it is not a file (mode {other})"))),
        }
        Ok(files)
    }

    /// A blob as UTF-8 text.
    async fn text(&self, repo: &Path, id: &str, path: &str) -> Result<String, OrgPolicyError> {
        let body = self.object(repo, "blob", id).await?;
        String::from_utf8(body).map_err(|_| OrgPolicyError::Missing {
            commit: String::new(),
            path: path.to_owned(),
            detail: "the policy file is not UTF-8".to_owned(),
        })
    }

    /// Reads object `id` of type `kind` and checks it hashes to `id`.
    async fn object(&self, repo: &Path, kind: &str, id: &str) -> Result<Vec<u8>, OrgPolicyError> {
        if !is_commit_id(id) {
            return Err(self.tampered(format!("`{id}` is not an object id")));
        }
        let body = git(
            repo,
            &["cat-file", kind, id],
            None,
            &format!("reading {kind} {id}"),
        )
        .await?;
        if object_id(kind, &body) != id {
            return Err(self.tampered(format!("{kind} {id} does not hash to its id")));
        }
        Ok(body)
    }

    fn tampered(&self, detail: String) -> OrgPolicyError {
        OrgPolicyError::Tampered {
            cache: self.cache.display().to_string(),
            detail,
        }
    }

    /// Creates the cache (0700) and its bare repository, and rewrites the repository's config
    /// to a known content (hooks, alternates and replace refs are ignored by how git is run).
    fn prepare_cache(&self) -> Result<(), OrgPolicyError> {
        let io = |path: &Path| {
            let path = path.display().to_string();
            move |source| OrgPolicyError::Io { path, source }
        };
        std::fs::create_dir_all(&self.cache).map_err(io(&self.cache))?;
        set_private(&self.cache, true)?;
        let repo = self.repo_dir();
        for dir in ["", "objects", "refs", "refs/heads", "refs/tags"] {
            let d = repo.join(dir);
            std::fs::create_dir_all(&d).map_err(io(&d))?;
        }
        set_private(&repo, true)?;
        write_private(&repo.join("HEAD"), b"ref: refs/heads/cordon-unused\n")?;
        write_private(
            &repo.join("config"),
            b"[core]\n\trepositoryformatversion = 0\n\tbare = true\n",
        )?;
        // Objects from elsewhere are not wanted (all objects are hash-checked anyway).
        let alternates = repo.join("objects/info/alternates");
        match std::fs::remove_file(&alternates) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => {
                return Err(OrgPolicyError::Io {
                    path: alternates.display().to_string(),
                    source,
                });
            }
        }
        Ok(())
    }
}

/// The allowed signers file for the trusted keys: one line per key, principal = the key's
/// comment when it is a plain name, else `trusted-key-N`; namespace `git` only.
pub fn allowed_signers(keys: &[String]) -> Result<String, OrgPolicyError> {
    let mut out = String::new();
    for (n, key) in keys.iter().enumerate() {
        let mut words = key.split_whitespace();
        let (Some(kind), Some(blob)) = (words.next(), words.next()) else {
            return Err(OrgPolicyError::Config(format!(
                "trusted key {} is not `TYPE BASE64 [comment]`",
                n + 1
            )));
        };
        let known = kind.starts_with("ssh-")
            || kind.starts_with("ecdsa-sha2-")
            || kind.starts_with("sk-ssh-")
            || kind.starts_with("sk-ecdsa-");
        let base64 = !blob.is_empty()
            && blob
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/' || b == b'=');
        if !known || !base64 || has_control(key) {
            return Err(OrgPolicyError::Config(format!(
                "trusted key {} is not an SSH public key (`ssh-ed25519 AAAA… name`)",
                n + 1
            )));
        }
        let comment = words.collect::<Vec<_>>().join(" ");
        let plain = !comment.is_empty()
            && comment.len() <= 64
            && comment
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"@._-+".contains(&b));
        let principal = if plain {
            comment
        } else {
            format!("trusted-key-{}", n + 1)
        };
        out.push_str(&format!("{principal} namespaces=\"git\" {kind} {blob}\n"));
    }
    Ok(out)
}

/// `path` split into components, or None when it is absolute, empty or climbs (`..`).
fn path_components(path: &str) -> Option<Vec<String>> {
    let trimmed = path.trim_matches('/');
    if path.starts_with('/') || trimmed.is_empty() || has_control(path) {
        return None;
    }
    let parts: Vec<String> = trimmed
        .split('/')
        .filter(|p| !p.is_empty() && *p != ".")
        .map(str::to_owned)
        .collect();
    if parts.is_empty() || parts.iter().any(|p| p == "..") {
        return None;
    }
    Some(parts)
}

fn has_control(s: &str) -> bool {
    s.chars().any(char::is_control)
}

fn is_commit_id(s: &str) -> bool {
    s.len() == 40
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Git's object id: sha1 over `<kind> <len>\0<body>`.
fn object_id(kind: &str, body: &[u8]) -> String {
    let mut hasher = Sha1::new();
    hasher.update(format!("{kind} {}\0", body.len()).as_bytes());
    hasher.update(body);
    hex::encode(hasher.finalize())
}

/// Whether the commit's header (before the first empty line) has a line starting with `prefix`.
fn has_header(body: &[u8], prefix: &[u8]) -> bool {
    body.split(|b| *b == b'\n')
        .take_while(|line| !line.is_empty())
        .any(|line| line.starts_with(prefix))
}

/// The commit's tree id (its first line).
fn commit_tree(body: &[u8]) -> Option<String> {
    let first = body.split(|b| *b == b'\n').next()?;
    let id = std::str::from_utf8(first.strip_prefix(b"tree ")?).ok()?;
    is_commit_id(id).then(|| id.to_owned())
}

struct TreeEntry {
    mode: String,
    name: String,
    id: String,
}

/// Parses a raw tree object: entries `<mode> <name>\0<20-byte id>`.
fn parse_tree(mut body: &[u8]) -> Option<Vec<TreeEntry>> {
    let mut entries = Vec::new();
    while !body.is_empty() {
        let space = body.iter().position(|b| *b == b' ')?;
        let mode = std::str::from_utf8(body.get(..space)?).ok()?.to_owned();
        let rest = body.get(space + 1..)?;
        let nul = rest.iter().position(|b| *b == 0)?;
        let name = String::from_utf8(rest.get(..nul)?.to_vec()).ok()?;
        let id = hex::encode(rest.get(nul + 1..nul + 21)?);
        body = rest.get(nul + 21..)?;
        entries.push(TreeEntry { mode, name, id });
    }
    Some(entries)
}

/// What a git command left.
struct Output {
    success: bool,
    stdout: Vec<u8>,
    stderr: Vec<u8>,
}

/// Runs git in `repo` (as `GIT_DIR`) and returns stdout, or an error naming `what`.
async fn git(
    repo: &Path,
    args: &[&str],
    stdin: Option<&[u8]>,
    what: &str,
) -> Result<Vec<u8>, OrgPolicyError> {
    let out = run(repo, args, stdin).await?;
    if out.success {
        Ok(out.stdout)
    } else {
        let detail = String::from_utf8_lossy(&out.stderr)
            .trim()
            .replace('\n', "; ");
        Err(OrgPolicyError::Git {
            what: what.to_owned(),
            detail: if detail.is_empty() {
                "no message".to_owned()
            } else {
                detail
            },
        })
    }
}

/// Runs git in directory `dir` without a repository (`git init`).
async fn git_plain(dir: &Path, args: &[&str]) -> Result<(), OrgPolicyError> {
    let mut command = base_command();
    command.current_dir(dir).args(args);
    let out = finish(command, None).await?;
    if out.success {
        Ok(())
    } else {
        Err(OrgPolicyError::Git {
            what: args.first().copied().unwrap_or("git").to_owned(),
            detail: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        })
    }
}

async fn run(repo: &Path, args: &[&str], stdin: Option<&[u8]>) -> Result<Output, OrgPolicyError> {
    let mut command = base_command();
    command.env("GIT_DIR", repo).current_dir(repo).args(args);
    finish(command, stdin).await
}

/// `git` with a scrubbed environment and the hardening flags every invocation carries.
fn base_command() -> tokio::process::Command {
    let mut command = tokio::process::Command::new("git");
    // Keep only what a transport may need (where ssh finds its keys and agent, proxies, PATH).
    let keep = [
        "PATH",
        "HOME",
        "USER",
        "LOGNAME",
        "SSH_AUTH_SOCK",
        "HTTPS_PROXY",
        "https_proxy",
        "HTTP_PROXY",
        "http_proxy",
        "NO_PROXY",
        "no_proxy",
        "ALL_PROXY",
        "all_proxy",
        "SYSTEMROOT",
        "TEMP",
        "TMP",
        "USERPROFILE",
    ];
    command.env_clear();
    for name in keep {
        if let Some(value) = std::env::var_os(name) {
            command.env(name, value);
        }
    }
    command
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", null_device())
        .env("GIT_NO_REPLACE_OBJECTS", "1")
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("LC_ALL", "C")
        .args([
            "-c",
            &format!("core.hooksPath={}", null_device()),
            "-c",
            "core.fsmonitor=false",
            "-c",
            "core.sshCommand=ssh -o BatchMode=yes",
            // Transports that only move bytes (what arrives is verified); never `ext::`, which
            // runs a command.
            "-c",
            "protocol.allow=never",
            "-c",
            "protocol.file.allow=always",
            "-c",
            "protocol.git.allow=always",
            "-c",
            "protocol.http.allow=always",
            "-c",
            "protocol.https.allow=always",
            "-c",
            "protocol.ssh.allow=always",
            "-c",
            "transfer.fsckObjects=true",
            "-c",
            "credential.helper=",
            "-c",
            "core.askPass=",
            "--no-replace-objects",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    command
}

fn null_device() -> &'static str {
    if cfg!(windows) { "NUL" } else { "/dev/null" }
}

/// Runs `command` with a timeout and capped output.
async fn finish(
    mut command: tokio::process::Command,
    stdin: Option<&[u8]>,
) -> Result<Output, OrgPolicyError> {
    let spawn_error = |source: std::io::Error| OrgPolicyError::Git {
        what: "start".to_owned(),
        detail: format!("cannot run `git` ({source}); install git"),
    };
    let mut child = command.spawn().map_err(spawn_error)?;
    let input = stdin.map(<[u8]>::to_vec).unwrap_or_default();
    let mut child_stdin = child.stdin.take();
    let mut child_stdout = child.stdout.take();
    let mut child_stderr = child.stderr.take();
    let work = async {
        let write = async {
            if let Some(mut s) = child_stdin.take() {
                // A command that does not read its input closes the pipe: not an error here.
                let _ = s.write_all(&input).await;
            }
        };
        let read = |pipe: Option<_>| async move {
            let mut buf = Vec::new();
            if let Some(p) = pipe {
                let p: Box<dyn tokio::io::AsyncRead + Unpin + Send> = p;
                let limit = u64::try_from(MAX_OBJECT_BYTES).unwrap_or(u64::MAX) + 1;
                let _ = p.take(limit).read_to_end(&mut buf).await;
            }
            buf
        };
        let out_pipe = child_stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn tokio::io::AsyncRead + Unpin + Send>);
        let err_pipe = child_stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn tokio::io::AsyncRead + Unpin + Send>);
        let ((), stdout, stderr) = tokio::join!(write, read(out_pipe), read(err_pipe));
        let status = child.wait().await;
        (status, stdout, stderr)
    };
    match tokio::time::timeout(GIT_TIMEOUT, work).await {
        Err(_) => Err(OrgPolicyError::Git {
            what: "command".to_owned(),
            detail: format!("no answer within {}s", GIT_TIMEOUT.as_secs()),
        }),
        Ok((status, stdout, stderr)) => {
            let status = status.map_err(spawn_error)?;
            if stdout.len() > MAX_OBJECT_BYTES {
                return Err(OrgPolicyError::Git {
                    what: "read".to_owned(),
                    detail: format!("output larger than {MAX_OBJECT_BYTES} bytes refused"),
                });
            }
            Ok(Output {
                success: status.success(),
                stdout,
                stderr,
            })
        }
    }
}

/// Writes `bytes` to `path` atomically (temporary file + rename), mode 0600.
fn write_private(path: &Path, bytes: &[u8]) -> Result<(), OrgPolicyError> {
    use std::io::Write;
    let io = |source| OrgPolicyError::Io {
        path: path.display().to_string(),
        source,
    };
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut file = tempfile::NamedTempFile::new_in(dir).map_err(io)?;
    file.write_all(bytes).map_err(io)?;
    file.as_file().sync_all().map_err(io)?;
    file.persist(path).map_err(|e| io(e.error))?;
    set_private(path, false)
}

/// 0700 for a directory, 0600 for a file (Unix; Windows relies on the profile's ACLs).
fn set_private(path: &Path, dir: bool) -> Result<(), OrgPolicyError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = if dir { 0o700 } else { 0o600 };
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).map_err(
            |source| OrgPolicyError::Io {
                path: path.display().to_string(),
                source,
            },
        )?;
    }
    #[cfg(not(unix))]
    let _ = (path, dir);
    Ok(())
}
