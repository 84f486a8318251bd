//! The organisation policy pull against real parts: a local bare repository, commits signed with
//! real SSH keys (ssh-keygen), git's own verification; hostile cases: unsigned commits, an
//! untrusted signer, a force-push to an unsigned commit, a tampered cache.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::{Path, PathBuf};
use std::process::Command;

use cordon_fleet::orgpolicy::{GitRef, OrgPolicyError, OrgPolicySource};

struct Team {
    dir: tempfile::TempDir,
}

const GOOD: &str = "version: org\nrules: []\n";

impl Team {
    fn new() -> Team {
        let team = Team {
            dir: tempfile::tempdir().unwrap(),
        };
        for key in ["alice", "mallory"] {
            let out = Command::new("ssh-keygen")
                .args(["-q", "-t", "ed25519", "-N", "", "-C", key, "-f"])
                .arg(team.path(key))
                .output()
                .unwrap();
            assert!(out.status.success(), "{out:?}");
        }
        team.git_in(team.dir.path(), &["init", "-q", "--bare", "origin.git"]);
        team.git_in(team.dir.path(), &["init", "-q", "-b", "main", "work"]);
        team
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn public_key(&self, name: &str) -> String {
        std::fs::read_to_string(self.path(&format!("{name}.pub")))
            .unwrap()
            .trim()
            .to_owned()
    }

    fn git_in(&self, dir: &Path, args: &[&str]) -> String {
        let out = Command::new("git")
            .current_dir(dir)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .args(["-c", "user.name=Team", "-c", "user.email=team@example.com"])
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "git {args:?}: {out:?}");
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    }

    fn work(&self, args: &[&str]) -> String {
        self.git_in(&self.path("work"), args)
    }

    /// Commits `files` (path, text), signed by `signer` (None = unsigned); returns the id.
    fn commit(&self, files: &[(&str, &str)], signer: Option<&str>) -> String {
        for (path, text) in files {
            let full = self.path("work").join(path);
            std::fs::create_dir_all(full.parent().unwrap()).unwrap();
            std::fs::write(full, text).unwrap();
        }
        self.work(&["add", "-A"]);
        match signer {
            Some(key) => {
                let key = self.path(key).display().to_string();
                self.work(&[
                    "-c",
                    "gpg.format=ssh",
                    "-c",
                    &format!("user.signingkey={key}"),
                    "commit",
                    "-q",
                    "-S",
                    "--allow-empty",
                    "-m",
                    "policy",
                ]);
            }
            None => {
                self.work(&["commit", "-q", "--allow-empty", "-m", "unsigned policy"]);
            }
        }
        self.work(&["rev-parse", "HEAD"])
    }

    fn push(&self, force: bool) {
        let origin = self.path("origin.git").display().to_string();
        let mut args = vec!["push", "-q"];
        if force {
            args.push("--force");
        }
        args.extend([origin.as_str(), "main"]);
        self.work(&args);
    }

    fn source(&self, path: &str) -> OrgPolicySource {
        OrgPolicySource {
            repo: self.path("origin.git").display().to_string(),
            reference: GitRef::Branch("main".into()),
            path: path.into(),
            trusted_keys: vec![self.public_key("alice")],
            cache: self.path("cache"),
        }
    }
}

#[tokio::test]
async fn applies_only_commits_signed_by_a_trusted_key() {
    let team = Team::new();
    let source = team.source("policy.yaml");

    let good = team.commit(&[("policy.yaml", GOOD)], Some("alice"));
    team.push(false);
    let pulled = source.pull().await.unwrap();
    assert_eq!(pulled.commit, good);
    assert_eq!(pulled.files.len(), 1);
    assert_eq!(pulled.files[0].text, GOOD);
    assert!(
        pulled.signer.starts_with("alice, ED25519 key SHA256:"),
        "{}",
        pulled.signer
    );
    source.mark_good(&pulled.commit).unwrap();

    // The cache is private.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(team.path("cache"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o700);
    }

    // An unsigned commit on top: refused, the last good commit still reads.
    let unsigned = team.commit(&[("policy.yaml", "version: unsigned\nrules: []\n")], None);
    team.push(false);
    match source.pull().await {
        Err(OrgPolicyError::Unsigned { commit }) => assert_eq!(commit, unsigned),
        other => panic!("unsigned commit: {other:?}"),
    }
    assert_eq!(source.last_good().await.unwrap().unwrap().commit, good);

    // Signed, but by a key the team does not trust.
    let untrusted = team.commit(
        &[("policy.yaml", "version: evil\nrules: []\n")],
        Some("mallory"),
    );
    team.push(false);
    match source.pull().await {
        Err(e @ OrgPolicyError::Untrusted { .. }) => {
            let text = e.to_string();
            assert!(text.contains(&untrusted), "{text}");
            assert!(text.contains("No principal matched"), "{text}");
        }
        other => panic!("untrusted signer: {other:?}"),
    }

    // Alice signs again on top: applied (history with unsigned commits below is fine, only the
    // applied commit's signature counts).
    let fixed = team.commit(
        &[("policy.yaml", "version: org2\nrules: []\n")],
        Some("alice"),
    );
    team.push(false);
    let pulled = source.pull().await.unwrap();
    assert_eq!(pulled.commit, fixed);
    source.mark_good(&fixed).unwrap();

    // A force-push of the branch to a new unsigned commit (history rewritten): refused.
    team.work(&["reset", "-q", "--hard", &good]);
    let forced = team.commit(&[("policy.yaml", "version: forced\nrules: []\n")], None);
    team.push(true);
    match source.pull().await {
        Err(OrgPolicyError::Unsigned { commit }) => assert_eq!(commit, forced),
        other => panic!("force-pushed unsigned commit: {other:?}"),
    }
    assert_eq!(source.last_good().await.unwrap().unwrap().commit, fixed);

    // A missing path in a signed commit is a clear error.
    let other = team.source("nope/policy.yaml");
    team.work(&["reset", "-q", "--hard", &fixed]);
    team.push(true);
    match other.pull().await {
        Err(e @ OrgPolicyError::Missing { .. }) => assert!(e.to_string().contains("nope"), "{e}"),
        r => panic!("missing path: {r:?}"),
    }
    // No trusted keys at all: nothing can ever be trusted.
    let mut none = team.source("policy.yaml");
    none.trusted_keys.clear();
    assert!(matches!(none.pull().await, Err(OrgPolicyError::Config(_))));
}

#[tokio::test]
async fn tags_and_policy_directories() {
    let team = Team::new();
    let commit = team.commit(
        &[
            ("policies/10-base.yaml", "version: org\nrules: []\n"),
            ("policies/20-more.yml", "version: org\n"),
            ("policies/.hidden.yaml", "bad"),
            ("policies/README.md", "not policy"),
        ],
        Some("alice"),
    );
    team.work(&["tag", "-a", "-m", "release", "v1"]);
    let origin = team.path("origin.git").display().to_string();
    team.work(&["push", "-q", &origin, "main", "v1"]);
    let mut source = team.source("policies");
    source.reference = GitRef::Tag("v1".into());
    let pulled = source.pull().await.unwrap();
    assert_eq!(pulled.commit, commit);
    let names: Vec<&str> = pulled.files.iter().map(|f| f.path.as_str()).collect();
    assert_eq!(names, ["policies/10-base.yaml", "policies/20-more.yml"]);
}

/// Runs a hostile action on the cache after a good pull, then checks the last good commit is
/// refused or unchanged — never the attacker's content.
#[tokio::test]
async fn a_tampered_cache_is_never_trusted() {
    let team = Team::new();
    let source = team.source("policy.yaml");
    let good = team.commit(&[("policy.yaml", GOOD)], Some("alice"));
    team.push(false);
    source
        .mark_good(&source.pull().await.unwrap().commit)
        .unwrap();
    let cache = team.path("cache");
    let repo = cache.join("repo.git");

    // 1. The agent makes its own unsigned commit in the cache and points last-good at it.
    let empty_tree = team.git_in(&repo, &["mktree", "--missing"]);
    let evil_commit = team.git_in(&repo, &["commit-tree", "-m", "evil", &empty_tree]);
    std::fs::write(cache.join("last-good"), format!("{evil_commit}\n")).unwrap();
    assert!(matches!(
        source.last_good().await,
        Err(OrgPolicyError::Unsigned { .. })
    ));

    // A signed-looking but foreign commit (signed by mallory), fetched into the cache.
    let mallory = team.commit(
        &[("policy.yaml", "version: evil\nrules: []\n")],
        Some("mallory"),
    );
    let work = team.path("work").display().to_string();
    team.git_in(&repo, &["fetch", "-q", &work, "main:refs/heads/evil"]);

    // 2. ...and a hostile repository config: an ssh "verifier" that always says Good, a gpg
    // program, and hooks that would run on fetch. None of them runs or counts.
    let marker = team.path("hook-ran");
    let fake = team.path("fake-ssh-keygen");
    std::fs::write(
        &fake,
        format!(
            "#!/bin/sh\ntouch {}\necho 'Good \"git\" signature for alice with ED25519 key SHA256:x' >&2\nexit 0\n",
            marker.display()
        ),
    )
    .unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    std::fs::write(
        repo.join("config"),
        format!(
            "[core]\n\tbare = true\n\thooksPath = {hooks}\n[gpg]\n\tformat = ssh\n\tprogram = {fake}\n\
             [gpg \"ssh\"]\n\tprogram = {fake}\n\tallowedSignersFile = /dev/null\n",
            hooks = repo.join("hooks").display(),
            fake = fake.display()
        ),
    )
    .unwrap();
    std::fs::create_dir_all(repo.join("hooks")).unwrap();
    for hook in ["reference-transaction", "post-checkout", "post-merge"] {
        std::fs::copy(&fake, repo.join("hooks").join(hook)).unwrap();
    }
    // Mallory's commit named last good.
    let work_objects = team.path("work/.git/objects").display().to_string();
    std::fs::create_dir_all(repo.join("objects/info")).unwrap();
    std::fs::write(
        repo.join("objects/info/alternates"),
        format!("{work_objects}\n"),
    )
    .unwrap();
    std::fs::write(cache.join("last-good"), format!("{mallory}\n")).unwrap();
    match source.last_good().await {
        Err(OrgPolicyError::Untrusted { .. }) => {}
        other => panic!("mallory's commit in the cache: {other:?}"),
    }
    // The pull itself still works from the real remote, and no hook or fake verifier ran.
    std::fs::write(cache.join("last-good"), format!("{good}\n")).unwrap();
    assert_eq!(source.pull().await.unwrap().commit, good);
    assert!(!marker.exists(), "a repository-supplied program ran");

    // 3. A replace ref makes git show mallory's commit in place of the good one: ignored.
    std::fs::create_dir_all(repo.join("refs/replace")).unwrap();
    std::fs::write(
        repo.join("refs/replace").join(&good),
        format!("{mallory}\n"),
    )
    .unwrap();
    assert_eq!(source.last_good().await.unwrap().unwrap().commit, good);

    // 4. The policy blob's object file is swapped for other content: detected, not applied.
    let blob = team.git_in(
        &repo,
        &[
            "--no-replace-objects",
            "rev-parse",
            &format!("{good}:policy.yaml"),
        ],
    );
    let evil_blob_dir = team.path("evil-objects");
    team.git_in(team.dir.path(), &["init", "-q", "--bare", "evil-objects"]);
    let evil_text = "version: evil\ndefault_decision: allow\n";
    std::fs::write(team.path("evil.yaml"), evil_text).unwrap();
    let evil_blob = team.git_in(
        &evil_blob_dir,
        &[
            "hash-object",
            "-w",
            team.path("evil.yaml").to_str().unwrap(),
        ],
    );
    // Fetched objects may sit in a pack: explode it so the blob is a loose object file.
    for entry in std::fs::read_dir(repo.join("objects/pack")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "pack") {
            let pack = std::fs::read(&path).unwrap();
            for ext in ["pack", "idx", "rev"] {
                let _ = std::fs::remove_file(path.with_extension(ext));
            }
            let mut child = Command::new("git")
                .env("GIT_DIR", &repo)
                .args(["unpack-objects", "-q"])
                .stdin(std::process::Stdio::piped())
                .spawn()
                .unwrap();
            std::io::Write::write_all(&mut child.stdin.take().unwrap(), &pack).unwrap();
            assert!(child.wait().unwrap().success());
        }
    }
    let loose = |root: &Path, id: &str| root.join("objects").join(&id[..2]).join(&id[2..]);
    let target = loose(&repo, &blob);
    assert!(target.exists(), "the fetched blob is a loose object");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    std::fs::copy(loose(&evil_blob_dir, &evil_blob), &target).unwrap();
    assert_eq!(
        team.git_in(&repo, &["--no-replace-objects", "cat-file", "blob", &blob]),
        evil_text.trim(),
        "git itself serves the swapped content"
    );
    match source.last_good().await {
        Ok(p) => panic!("a swapped blob was read: {p:?}"),
        Err(e) => {
            let text = e.to_string();
            // git serves the swapped bytes; Cordon's own hash check refuses them.
            assert!(matches!(e, OrgPolicyError::Tampered { .. }), "{text}");
            assert!(text.contains(&blob), "{text}");
            assert!(!text.contains("default_decision: allow"));
        }
    }
}
