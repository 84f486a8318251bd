//! Private places on disk: the data directory and the control socket's directory; and the
//! files Cordon takes its rules from, which no other user may be able to change.
//!
//! The agent runs as the same OS user, but other local users must neither read the evidence nor
//! stand up an impostor engine that answers `cordon approve`. So the engine creates its
//! directories 0700 and its files 0600 (never relying on the umask), and both the engine and its
//! clients refuse a directory or socket owned by another user or writable by others.
//!
//! On Windows a directory the engine creates gets a protected DACL for the current user alone
//! (`D:P(A;OICI;FA;;;<you>)`, inherited by every file created inside, the database and its
//! `-wal`/`-shm` included): the counterpart of 0700/0600 (SYSTEM and the Administrators, like
//! root, are not "anyone else"). An existing directory whose DACL admits anyone else is accepted
//! with a warning (as a 0755 one is on Unix): it may be the user's own
//! choice, such as a synced folder. The control channel is a named pipe with an explicit
//! security descriptor (see [`crate::control`]).

use std::path::Path;

use crate::error::GatewayError;

/// Creates `dir` (and missing parents) 0700 if absent, then checks it is ours and not writable by
/// anyone else. An existing directory readable by others is accepted with a warning (an older
/// install made it 0755): the files inside are 0600.
pub fn ensure_dir(dir: &Path) -> Result<(), GatewayError> {
    if dir.as_os_str().is_empty() {
        return Ok(());
    }
    if !dir.exists() {
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::DirBuilderExt;
            builder.mode(0o700);
        }
        builder
            .create(dir)
            .map_err(|e| GatewayError::io(format!("cannot create {}", dir.display()), e))?;
        #[cfg(windows)]
        cordon_winsec::make_path_private(dir).map_err(|e| {
            GatewayError::io(
                format!("cannot restrict {} to the current user", dir.display()),
                e,
            )
        })?;
    }
    check_dir(dir)
}

/// Refuses a directory owned by another user or writable by group or others (the place where a
/// socket or the evidence lives must be under the user's sole control).
#[cfg(unix)]
pub fn check_dir(dir: &Path) -> Result<(), GatewayError> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(dir)
        .map_err(|e| GatewayError::io(format!("cannot inspect {}", dir.display()), e))?;
    let insecure = |reason: String| GatewayError::Insecure {
        path: dir.to_path_buf(),
        reason,
    };
    if !meta.is_dir() {
        return Err(insecure("not a directory".into()));
    }
    let me = nix::unistd::geteuid().as_raw();
    if meta.uid() != me {
        return Err(insecure(format!(
            "the directory is owned by uid {}, not by you (uid {me})",
            meta.uid()
        )));
    }
    let mode = meta.mode() & 0o7777;
    if mode & 0o022 != 0 {
        return Err(insecure(format!(
            "the directory is writable by other users (mode {mode:o}); run `chmod 700 {}`",
            dir.display()
        )));
    }
    if mode & 0o077 != 0 {
        tracing::warn!(
            "{} is readable by other users (mode {mode:o}); `chmod 700` it",
            dir.display()
        );
    }
    Ok(())
}

/// Refuses a file Cordon takes its rules from (`what`: the config file, the policy file or
/// directory) when another local user could change it: owned by another user (root aside: an
/// administrator's file), writable by every user, writable by a group with other members (a
/// user private group, Debian's and Ubuntu's default with umask 002, is the user alone), or, for
/// a directory, any `*.yaml`/`*.yml` in it likewise; and a file in a directory others may write
/// to without the sticky bit (they could replace it). The agent runs as the user and may edit
/// these anyway, which Cordon governs (`cordon.state`); another user must not.
#[cfg(unix)]
pub fn check_trusted_input(path: &Path, what: &str) -> Result<(), GatewayError> {
    use std::os::unix::fs::MetadataExt;
    let inspect = |p: &Path| {
        std::fs::metadata(p)
            .map_err(|e| GatewayError::io(format!("cannot inspect {}", p.display()), e))
    };
    let meta = inspect(path)?;
    check_writers(path, &meta, what)?;
    // Where the file really is (a dotfile manager's symlink is fine; its target's directory is
    // what another user would need to write to).
    let real = std::fs::canonicalize(path)
        .map_err(|e| GatewayError::io(format!("cannot resolve {}", path.display()), e))?;
    if let Some(dir) = real.parent() {
        let mode = inspect(dir)?.mode();
        if mode & 0o002 != 0 && mode & 0o1000 == 0 {
            return Err(GatewayError::Insecure {
                path: dir.to_path_buf(),
                reason: format!(
                    "the {what} is in a directory every user can write to: they could replace \
                     it; move it, or run `chmod o-w {}`",
                    dir.display()
                ),
            });
        }
    }
    if meta.is_dir() {
        let entries = std::fs::read_dir(path)
            .map_err(|e| GatewayError::io(format!("cannot read {}", path.display()), e))?;
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.ends_with(".yaml") || name.ends_with(".yml") {
                let file = entry.path();
                check_writers(&file, &inspect(&file)?, what)?;
            }
        }
    }
    Ok(())
}

/// Windows: the config and policy files are the user's profile's (see the module docs for what
/// is checked there).
#[cfg(windows)]
pub fn check_trusted_input(_path: &Path, _what: &str) -> Result<(), GatewayError> {
    Ok(())
}

/// Refuses `path`, which `holds` something other users must not see, when another local user
/// can read it: readable by every user, or by a group with other members (a user private group
/// is the user alone). The agents' HTTP tokens are such a thing: the engine's port is on the
/// loopback interface every local user reaches, so whoever reads a token can call the user's
/// governed tools as that agent. Refused, not warned about, as `ssh` refuses a readable key.
#[cfg(unix)]
pub fn check_unreadable_by_others(path: &Path, holds: &str) -> Result<(), GatewayError> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(path)
        .map_err(|e| GatewayError::io(format!("cannot inspect {}", path.display()), e))?;
    let mode = meta.mode() & 0o7777;
    let me = nix::unistd::geteuid().as_raw();
    let who = if mode & 0o004 != 0 {
        "every user".to_owned()
    } else if mode & 0o040 != 0 && !private_group(meta.gid(), me) {
        format!("group {}, which has other members,", meta.gid())
    } else {
        return Ok(());
    };
    Err(GatewayError::Insecure {
        path: path.to_path_buf(),
        reason: format!(
            "it {holds} and {who} can read it (mode {mode:o}): whoever reads a token can call \
             Cordon as that agent; run `chmod 600 {}`",
            path.display()
        ),
    })
}

/// Windows: the profile's ACLs keep other users out (see the module docs).
#[cfg(windows)]
pub fn check_unreadable_by_others(_path: &Path, _holds: &str) -> Result<(), GatewayError> {
    Ok(())
}

/// Who could write `path` besides the user (see [`check_trusted_input`]).
#[cfg(unix)]
fn check_writers(path: &Path, meta: &std::fs::Metadata, what: &str) -> Result<(), GatewayError> {
    use std::os::unix::fs::MetadataExt;
    let insecure = |reason: String| GatewayError::Insecure {
        path: path.to_path_buf(),
        reason,
    };
    let me = nix::unistd::geteuid().as_raw();
    if meta.uid() != me && meta.uid() != 0 {
        return Err(insecure(format!(
            "the {what} is owned by uid {}, not by you (uid {me}): its owner could change what \
             Cordon allows",
            meta.uid()
        )));
    }
    let mode = meta.mode() & 0o7777;
    if mode & 0o002 != 0 {
        return Err(insecure(format!(
            "the {what} is writable by every user (mode {mode:o}): they could change what \
             Cordon allows; run `chmod o-w {}`",
            path.display()
        )));
    }
    if mode & 0o020 != 0 && !private_group(meta.gid(), me) {
        return Err(insecure(format!(
            "the {what} is writable by group {}, which has other members (mode {mode:o}): they \
             could change what Cordon allows; run `chmod g-w {}`",
            meta.gid(),
            path.display()
        )));
    }
    Ok(())
}

/// Whether `gid` is `uid`'s own private group: its primary group, with no other member.
#[cfg(unix)]
fn private_group(gid: u32, uid: u32) -> bool {
    use nix::unistd::{Gid, Group, Uid, User};
    let (Ok(Some(user)), Ok(Some(group))) = (
        User::from_uid(Uid::from_raw(uid)),
        Group::from_gid(Gid::from_raw(gid)),
    ) else {
        return false;
    };
    user.gid.as_raw() == gid && group.mem.iter().all(|member| *member == user.name)
}

/// Windows: refuses what is not a directory, and warns when its DACL admits anyone but the
/// current user (see the module docs).
#[cfg(windows)]
pub fn check_dir(dir: &Path) -> Result<(), GatewayError> {
    let meta = std::fs::metadata(dir)
        .map_err(|e| GatewayError::io(format!("cannot inspect {}", dir.display()), e))?;
    if !meta.is_dir() {
        return Err(GatewayError::Insecure {
            path: dir.to_path_buf(),
            reason: "not a directory".into(),
        });
    }
    match (
        cordon_winsec::path_sddl(dir),
        cordon_winsec::current_user_sid(),
    ) {
        (Ok(sddl), Ok(me)) if cordon_winsec::private_to(&sddl, &me) => {}
        (Ok(sddl), Ok(_)) => tracing::warn!(
            "{} admits other users ({sddl}); Cordon restricts the directories it creates to you",
            dir.display()
        ),
        (Err(e), _) | (_, Err(e)) => {
            tracing::warn!("cannot read the ACL of {}: {e}", dir.display());
        }
    }
    Ok(())
}

/// Neither Unix nor Windows: no ownership model Cordon knows (see the module docs).
#[cfg(not(any(unix, windows)))]
pub fn check_dir(dir: &Path) -> Result<(), GatewayError> {
    let _ = dir;
    Ok(())
}

/// The owner and DACL of `path` in SDDL and whether they keep other users out (the current
/// user, SYSTEM and the Administrators only; `cordon status` on Windows shows the data
/// directory's).
#[cfg(windows)]
pub fn path_security(path: &Path) -> Result<(String, bool), GatewayError> {
    let sddl = cordon_winsec::path_sddl(path)
        .map_err(|e| GatewayError::io(format!("cannot read the ACL of {}", path.display()), e))?;
    let me = cordon_winsec::current_user_sid()
        .map_err(|e| GatewayError::io("cannot read the current user's SID".to_owned(), e))?;
    let private = cordon_winsec::private_to(&sddl, &me);
    Ok((sddl, private))
}

/// Refuses a control socket owned by another user (an impostor engine's) or one whose directory
/// fails [`check_dir`]. A missing socket is not an error here: connecting will say so.
#[cfg(unix)]
pub fn check_socket(path: &Path) -> Result<(), GatewayError> {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        check_dir(dir)?;
    }
    let meta = match std::fs::symlink_metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => {
            return Err(GatewayError::io(
                format!("cannot inspect {}", path.display()),
                e,
            ));
        }
    };
    let insecure = |reason: String| GatewayError::Insecure {
        path: path.to_path_buf(),
        reason,
    };
    if !meta.file_type().is_socket() {
        return Err(insecure("not a Unix socket".into()));
    }
    let me = nix::unistd::geteuid().as_raw();
    if meta.uid() != me {
        return Err(insecure(format!(
            "the socket is owned by uid {}, not by you (uid {me}): another user's engine",
            meta.uid()
        )));
    }
    Ok(())
}

/// Creates `path` empty and 0600 if it does not exist, so a database that SQLite opens later (and
/// the `-wal`/`-shm` files it derives from the database's mode) is private from its first byte.
pub fn precreate_file(path: &Path) -> Result<(), GatewayError> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    match options.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(GatewayError::io(
            format!("cannot create {}", path.display()),
            e,
        )),
    }
}

#[cfg(all(test, unix))]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn creates_private_directories_and_files() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("a/b");
        ensure_dir(&dir).unwrap();
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&tmp.path().join("a")), 0o700);
        let db = dir.join("evidence.db");
        precreate_file(&db).unwrap();
        assert_eq!(mode(&db), 0o600);
        // Idempotent, and an existing file is left as it is.
        std::fs::write(&db, "x").unwrap();
        precreate_file(&db).unwrap();
        assert_eq!(std::fs::read_to_string(&db).unwrap(), "x");
    }

    #[test]
    fn world_writable_directory_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
        let err = ensure_dir(tmp.path()).unwrap_err().to_string();
        assert!(err.contains("writable by other users"), "{err}");
        assert!(err.contains("refusing"), "{err}");
        // /tmp itself (sticky, world-writable) is no place for a socket either.
        let err = check_socket(Path::new("/tmp/cordon-never.sock"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("refusing"), "{err}");
    }

    #[test]
    fn group_writable_directory_is_refused_but_readable_is_accepted() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o770)).unwrap();
        assert!(check_dir(tmp.path()).is_err());
        std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        check_dir(tmp.path()).unwrap();
    }

    #[test]
    fn a_token_file_others_can_read_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("config.yaml");
        std::fs::write(&path, "agents: {}").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = check_unreadable_by_others(&path, "holds tokens")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("every user can read it") && err.contains("chmod 600"),
            "{err}"
        );
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        check_unreadable_by_others(&path, "holds tokens").unwrap();
        // Group-readable: refused unless the group is the user's private one.
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
        let me = nix::unistd::geteuid().as_raw();
        let gid = std::fs::metadata(&path).map(|m| {
            use std::os::unix::fs::MetadataExt;
            m.gid()
        });
        let private = private_group(gid.unwrap(), me);
        assert_eq!(
            check_unreadable_by_others(&path, "holds tokens").is_ok(),
            private
        );
    }

    #[test]
    fn a_plain_file_posing_as_the_socket_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("cordon.sock");
        check_socket(&path).unwrap();
        std::fs::write(&path, "").unwrap();
        let err = check_socket(&path).unwrap_err().to_string();
        assert!(err.contains("not a Unix socket"), "{err}");
    }

    #[test]
    fn directory_owned_by_another_user_is_refused() {
        if !nix::unistd::geteuid().is_root() {
            // Only root can hand a directory to another user; `/` is root's, so a non-root run
            // checks the same rule that way.
            let err = check_dir(Path::new("/")).unwrap_err().to_string();
            assert!(err.contains("owned by uid 0"), "{err}");
            return;
        }
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("foreign");
        std::fs::create_dir(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
        nix::unistd::chown(&dir, Some(nix::unistd::Uid::from_raw(65534)), None).unwrap();
        let err = ensure_dir(&dir).unwrap_err().to_string();
        assert!(err.contains("owned by uid 65534"), "{err}");
    }
}
