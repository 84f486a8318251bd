//! Lexical path normalisation and secret-path detection. Pure: no file system access (symlinks
//! are the [`crate::resolve`] module's job).

use globset::GlobBuilder;

/// What kind of secret a path holds; decides between `read.env` and `read.secrets`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SecretKind {
    /// Dotenv files and process environments (`.env`, `*.env`, `/proc/*/environ`).
    Env,
    /// Keys and credential files (SSH/GPG keys, cloud credentials, `.netrc`, kubeconfigs...).
    Secrets,
}

/// Normalise a path lexically so that disguises (`./.env`, `a/../.env`, `//x`, `~/x`,
/// `C:\x`) compare equal to their plain form. Backslashes always become `/` (over-approximation:
/// a Unix file name with a literal backslash is rare, a Windows path in a Unix check is not).
/// `..` never climbs above the root of an absolute path; leading `..` of a relative path stay.
/// `~` and `~/` expand to `home` when given, and stay `~` otherwise.
pub fn normalize_path(raw: &str, home: Option<&str>) -> String {
    let mut s = raw.replace('\\', "/");
    if let Some(h) = home {
        if s == "~" {
            s = h.replace('\\', "/");
        } else if let Some(rest) = s.strip_prefix("~/") {
            s = format!("{}/{rest}", h.replace('\\', "/").trim_end_matches('/'));
        }
    }
    // Root: `/`, `//` (UNC-ish, collapsed), or a drive letter `C:` / `C:/`.
    let (root, rest) = split_root(&s);
    let mut out: Vec<&str> = Vec::new();
    for comp in rest.split('/') {
        match comp {
            "" | "." => {}
            ".." => match out.last() {
                Some(&last) if last != ".." => {
                    out.pop();
                }
                _ => {
                    if root.is_empty() {
                        out.push("..");
                    }
                }
            },
            c => out.push(c),
        }
    }
    let joined = out.join("/");
    if root.is_empty() {
        if joined.is_empty() {
            ".".to_owned()
        } else {
            joined
        }
    } else {
        format!("{root}{joined}")
    }
}

fn split_root(s: &str) -> (String, &str) {
    if let Some(rest) = s.strip_prefix('/') {
        return ("/".to_owned(), rest);
    }
    let mut chars = s.chars();
    if let (Some(d), Some(':')) = (chars.next(), chars.next())
        && d.is_ascii_alphabetic()
    {
        let rest = s.get(2..).unwrap_or("");
        return (format!("{d}:/"), rest.trim_start_matches('/'));
    }
    (String::new(), s)
}

/// Whether a normalised path names a secret. Case-insensitive (macOS and Windows disks are).
/// Dotenv templates (`.env.example`, `.env.sample`, `.env.template`, `.env.dist`) are not
/// secrets: they document variable names, and agents need them to set up a project.
/// A NUL byte ends the path for this check, as it would for the operating system.
pub fn secret_kind(normalised: &str) -> Option<SecretKind> {
    let cut = normalised.split('\0').next().unwrap_or(normalised);
    let lower = cut.to_lowercase();
    let comps: Vec<&str> = lower.split('/').filter(|c| !c.is_empty()).collect();
    let base = comps.last().copied().unwrap_or("");
    let has_pair = |a: &str, b: &str| comps.windows(2).any(|w| w == [a, b]);

    // Dotenv and process environments; templates document names only.
    const TEMPLATES: &[&str] = &[
        ".example",
        ".sample",
        ".template",
        ".dist",
        ".defaults",
        ".schema",
        ".tmpl",
        ".tpl",
    ];
    if (base.starts_with(".env.") || base.ends_with(".env"))
        && TEMPLATES.iter().any(|t| {
            base.ends_with(t) || base.starts_with(&format!("{}.", t.trim_start_matches('.')))
        })
        && !base.ends_with(".env")
    {
        return None;
    }
    if base == ".env" || base.starts_with(".env.") || base.ends_with(".env") || base == ".envrc" {
        return Some(SecretKind::Env);
    }
    if base == "environ" {
        return Some(SecretKind::Env);
    }

    // Directories whose whole content is secret (the directory itself too: copying or
    // archiving it reads every key).
    const SECRET_DIRS: &[&str] = &[".ssh", ".gnupg", ".azure", ".password-store"];
    if comps.iter().any(|c| SECRET_DIRS.contains(c)) {
        return Some(SecretKind::Secrets);
    }
    if has_pair(".config", "gcloud") || has_pair("library", "keychains") {
        return Some(SecretKind::Secrets);
    }
    if has_pair(".aws", "credentials")
        || has_pair(".aws", "config")
        || base == ".aws"
        || has_pair(".docker", "config.json")
        || has_pair(".kube", "config")
        || base == ".kube"
        || has_pair("gh", "hosts.yml")
        || has_pair(".cargo", "credentials")
        || has_pair(".cargo", "credentials.toml")
        || has_pair(".gem", "credentials")
    {
        return Some(SecretKind::Secrets);
    }
    const KEY_PREFIXES: &[&str] = &["id_rsa", "id_ed25519", "id_ecdsa", "id_dsa", "kubeconfig"];
    if KEY_PREFIXES.iter().any(|p| base.starts_with(p)) {
        return Some(SecretKind::Secrets);
    }
    const KEY_EXTS: &[&str] = &[
        ".pem",
        ".key",
        ".p12",
        ".pfx",
        ".jks",
        ".keystore",
        ".ppk",
        ".kdbx",
    ];
    if KEY_EXTS.iter().any(|e| base.ends_with(e)) {
        return Some(SecretKind::Secrets);
    }
    const SECRET_FILES: &[&str] = &[
        ".netrc",
        "_netrc",
        ".npmrc",
        ".pypirc",
        ".git-credentials",
        ".pgpass",
        ".my.cnf",
        ".s3cfg",
        ".boto",
        ".htpasswd",
        "credentials.json",
        "secrets.yaml",
        "secrets.yml",
        "secrets.json",
        "shadow",
        "gshadow",
    ];
    if SECRET_FILES.contains(&base) {
        return Some(SecretKind::Secrets);
    }
    None
}

/// Names a glob component is tried against: if `cat .e*` could match `.env`, it is treated as
/// reading `.env`.
const GLOB_SAMPLES: &[&str] = &[
    ".env",
    ".env.local",
    ".envrc",
    "prod.env",
    "id_rsa",
    "id_ed25519",
    "id_ecdsa",
    "id_dsa",
    "server.pem",
    "server.key",
    "cert.p12",
    "cert.pfx",
    ".netrc",
    ".npmrc",
    ".pypirc",
    ".git-credentials",
    ".pgpass",
    "credentials",
    "credentials.json",
    "config",
    "config.json",
    "kubeconfig",
    "secrets.yaml",
    "secrets.yml",
    "environ",
    ".ssh",
    ".gnupg",
    ".aws",
    ".kube",
    ".docker",
    ".azure",
    "gcloud",
    "keychains",
    "shadow",
];

const MAX_BRACE_EXPANSIONS: usize = 64;

/// Work allowed for [`secret_kind_loose`] in one classification (brace candidates plus glob
/// compilations): hostile input with thousands of globs must not stall the gateway.
pub(crate) const LOOSE_BUDGET: usize = 512;

/// [`secret_kind`] that also sees through brace expansion (`.{env,x}`) and globs (`.e*`,
/// `~/.ss?/id_rsa`). A last component made only of wildcards and dots (`*`, `*.*`) is not
/// tried: it would make every `grep foo *` a secrets read (documented weakness).
/// `Err(())` when `budget` ran out: the caller must then be conservative.
#[allow(clippy::result_unit_err)]
pub(crate) fn secret_kind_loose(
    normalised: &str,
    budget: &mut usize,
) -> Result<Option<SecretKind>, ()> {
    let direct = secret_kind(normalised);
    if direct == Some(SecretKind::Secrets) || !(normalised.contains('{') || is_globby(normalised)) {
        return Ok(direct);
    }
    let mut best = direct;
    for cand in expand_braces(normalised) {
        *budget = budget.checked_sub(1).ok_or(())?;
        let found = match secret_kind(&cand) {
            Some(k) => Some(k),
            None => glob_secret_kind(&cand, budget)?,
        };
        best = stricter_kind(best, found);
        if best == Some(SecretKind::Secrets) {
            break;
        }
    }
    Ok(best)
}

/// The stricter of two findings (`Secrets` over `Env` over none).
pub(crate) fn stricter_kind(a: Option<SecretKind>, b: Option<SecretKind>) -> Option<SecretKind> {
    match (a, b) {
        (Some(SecretKind::Secrets), _) | (_, Some(SecretKind::Secrets)) => {
            Some(SecretKind::Secrets)
        }
        (Some(SecretKind::Env), _) | (_, Some(SecretKind::Env)) => Some(SecretKind::Env),
        _ => None,
    }
}

/// Whether a path has glob characters.
pub(crate) fn is_globby(s: &str) -> bool {
    s.contains(['*', '?', '['])
}

fn glob_secret_kind(path: &str, budget: &mut usize) -> Result<Option<SecretKind>, ()> {
    if !is_globby(path) {
        return Ok(None);
    }
    let comps: Vec<&str> = path.split('/').collect();
    let last = comps.len().saturating_sub(1);
    for (i, comp) in comps.iter().enumerate() {
        if !is_globby(comp) {
            continue;
        }
        if i == last && comp.chars().all(|c| matches!(c, '*' | '?' | '.')) {
            continue;
        }
        *budget = budget.checked_sub(1).ok_or(())?;
        let Ok(glob) = GlobBuilder::new(comp)
            .case_insensitive(true)
            .literal_separator(true)
            .backslash_escape(false)
            .build()
        else {
            continue;
        };
        let m = glob.compile_matcher();
        for sample in GLOB_SAMPLES {
            // Shell globs do not match a leading dot unless the pattern starts with one.
            if sample.starts_with('.') && !comp.starts_with('.') {
                continue;
            }
            if !m.is_match(sample) {
                continue;
            }
            let replaced: Vec<&str> = comps
                .iter()
                .enumerate()
                .map(|(j, c)| if j == i { *sample } else { *c })
                .collect();
            if let Some(k) = secret_kind(&replaced.join("/")) {
                return Ok(Some(k));
            }
        }
    }
    Ok(None)
}

/// Bash brace expansion (`a{b,c}d` → `abd acd`), bounded; anything unbalanced stays literal.
pub(crate) fn expand_braces(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    expand_into(s, &mut out, 0);
    if out.is_empty() {
        out.push(s.to_owned());
    }
    out
}

fn expand_into(s: &str, out: &mut Vec<String>, depth: usize) {
    if out.len() >= MAX_BRACE_EXPANSIONS {
        return;
    }
    if depth > 8 {
        out.push(s.to_owned());
        return;
    }
    let Some((open, close, alts)) = first_brace_group(s) else {
        out.push(s.to_owned());
        return;
    };
    let prefix = s.get(..open).unwrap_or("");
    let suffix = s.get(close + 1..).unwrap_or("");
    for alt in alts {
        if out.len() >= MAX_BRACE_EXPANSIONS {
            return;
        }
        expand_into(&format!("{prefix}{alt}{suffix}"), out, depth + 1);
    }
}

/// Byte offsets of the first `{...}` group with a top-level comma, and its alternatives.
fn first_brace_group(s: &str) -> Option<(usize, usize, Vec<String>)> {
    let bytes: Vec<(usize, char)> = s.char_indices().collect();
    for (k, &(open, c)) in bytes.iter().enumerate() {
        if c != '{' {
            continue;
        }
        let mut depth = 0usize;
        let mut alts = Vec::new();
        let mut cur = String::new();
        for &(idx, ch) in bytes.iter().skip(k + 1) {
            match ch {
                '{' => {
                    depth += 1;
                    cur.push(ch);
                }
                '}' if depth == 0 => {
                    if alts.is_empty() {
                        break; // `{x}` is literal in bash
                    }
                    alts.push(std::mem::take(&mut cur));
                    return Some((open, idx, alts));
                }
                '}' => {
                    depth -= 1;
                    cur.push(ch);
                }
                ',' if depth == 0 => alts.push(std::mem::take(&mut cur)),
                _ => cur.push(ch),
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(raw: &str, expected: &str) {
        assert_eq!(normalize_path(raw, None), expected, "normalising {raw:?}");
    }

    #[test]
    fn normalisation_table() {
        norm("./.env", ".env");
        norm("a/../.env", ".env");
        norm("a/b/../../.env", ".env");
        norm("../.env", "../.env");
        norm("../../x/./y", "../../x/y");
        norm("//etc///passwd", "/etc/passwd");
        norm("/../../etc/passwd", "/etc/passwd");
        norm("/a/b/../../../c", "/c");
        norm("~/.ssh/id_rsa", "~/.ssh/id_rsa");
        norm(
            "C:\\Users\\me\\.aws\\credentials",
            "C:/Users/me/.aws/credentials",
        );
        norm("C:\\..\\..\\x", "C:/x");
        norm("dir\\sub\\..\\.env", "dir/.env");
        norm("", ".");
        norm(".", ".");
        norm("a/", "a");
        norm("/", "/");
    }

    #[test]
    fn home_expansion() {
        assert_eq!(normalize_path("~", Some("/home/u")), "/home/u");
        assert_eq!(normalize_path("~/.env", Some("/home/u/")), "/home/u/.env");
        assert_eq!(normalize_path("~bob/x", Some("/home/u")), "~bob/x");
        assert_eq!(normalize_path("~/../../../x", Some("/home/u")), "/x");
    }

    fn kind(p: &str) -> Option<SecretKind> {
        secret_kind(&normalize_path(p, None))
    }

    #[test]
    fn secret_table() {
        use SecretKind::{Env, Secrets};
        let cases: &[(&str, Option<SecretKind>)] = &[
            (".env", Some(Env)),
            (".ENV", Some(Env)),
            (".env.local", Some(Env)),
            (".env.example", None),
            (".env.sample", None),
            (".env.example.local", Some(Env)),
            ("config/prod.env", Some(Env)),
            (".envrc", Some(Env)),
            ("/proc/self/environ", Some(Env)),
            ("/proc/1/environ", Some(Env)),
            ("~/.ssh/id_ed25519", Some(Secrets)),
            ("~/.ssh/config", Some(Secrets)),
            ("~/.ssh", Some(Secrets)),
            ("keys/id_rsa.pub", Some(Secrets)),
            ("~/.gnupg/private-keys-v1.d/x", Some(Secrets)),
            ("tls/server.PEM", Some(Secrets)),
            ("a.key", Some(Secrets)),
            ("cert.p12", Some(Secrets)),
            ("cert.pfx", Some(Secrets)),
            ("~/.aws/credentials", Some(Secrets)),
            ("~/.aws/config", Some(Secrets)),
            ("~/.netrc", Some(Secrets)),
            ("~/.npmrc", Some(Secrets)),
            ("~/.pypirc", Some(Secrets)),
            ("~/.git-credentials", Some(Secrets)),
            ("~/.docker/config.json", Some(Secrets)),
            ("~/.kube/config", Some(Secrets)),
            ("kubeconfig-prod.yaml", Some(Secrets)),
            (
                "~/.config/gcloud/application_default_credentials.json",
                Some(Secrets),
            ),
            ("~/.azure/accessTokens.json", Some(Secrets)),
            ("credentials.json", Some(Secrets)),
            ("deploy/secrets.yaml", Some(Secrets)),
            ("deploy/secrets.yml", Some(Secrets)),
            ("~/Library/Keychains/login.keychain-db", Some(Secrets)),
            (".env\0.txt", Some(Env)),
            ("src/main.rs", None),
            ("venv/bin/python", None),
            ("environment.md", None),
            ("README.md", None),
            ("keyboard.rs", None),
            (".github/config.yml", None),
        ];
        for (p, want) in cases {
            assert_eq!(kind(p), *want, "{p:?}");
        }
    }

    #[test]
    fn loose_detection_sees_globs_and_braces() {
        use SecretKind::{Env, Secrets};
        let cases: &[(&str, Option<SecretKind>)] = &[
            (".e*", Some(Env)),
            (".en?", Some(Env)),
            (".[e]nv", Some(Env)),
            (".{env,x}", Some(Env)),
            ("x{,.pem}", Some(Secrets)),
            ("~/.ss?/id_rsa", Some(Secrets)),
            ("*.pem", Some(Secrets)),
            (".*/credentials", Some(Secrets)),
            ("*", None),
            ("*.rs", None),
            ("src/*.*", None),
        ];
        for (p, want) in cases {
            let mut budget = LOOSE_BUDGET;
            assert_eq!(secret_kind_loose(p, &mut budget), Ok(*want), "{p:?}");
        }
    }

    #[test]
    fn loose_detection_has_a_budget() {
        let mut budget = 3;
        let many = "{a,b}{c,d}{e,f}.e*";
        assert_eq!(secret_kind_loose(many, &mut budget), Err(()));
        let mut budget = 0;
        // Plain paths cost nothing.
        assert_eq!(
            secret_kind_loose(".env", &mut budget),
            Ok(Some(SecretKind::Env))
        );
    }

    #[test]
    fn brace_expansion_is_bounded() {
        let many = "{a,b}".repeat(20);
        assert!(expand_braces(&many).len() <= MAX_BRACE_EXPANSIONS);
        assert_eq!(expand_braces("a{b,c}d"), vec!["abd", "acd"]);
        assert_eq!(expand_braces("{x}"), vec!["{x}"]);
        assert_eq!(expand_braces("{unbalanced"), vec!["{unbalanced"]);
    }
}
