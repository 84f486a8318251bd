//! Windows security for Cordon's control pipe, its private files, and its child processes.
//!
//! The control channel on Windows is a named pipe. Its default security descriptor would admit
//! other users (Everyone may read, for instance), so the engine creates every instance with an
//! explicit descriptor, `O:<user>D:P(A;;GA;;;<user>)`: owned by the current user, a protected
//! DACL granting that user alone. Clients read the descriptor back and refuse a pipe owned by
//! anyone else (an impostor engine squatting the name), and `cordon status` shows it.
//!
//! Data directories and key files get a protected DACL for the current user alone
//! ([`make_path_private`], the counterpart of `chmod 0700`), and child processes (git, upstream
//! servers) run in a kill-on-close [`Job`], the counterpart of a Unix process group.
//!
//! Descriptors exist only behind raw Win32 calls, so this crate is the workspace's one place
//! with `unsafe` code (the `ffi` module); everything it exports is safe. The SDDL parsing
//! ([`admits_only`]) is plain Rust and tested on every platform.

#[cfg(windows)]
mod ffi;

#[cfg(windows)]
pub use ffi::{
    Job, create_private_pipe, current_user_sid, make_path_private, owned_by_current_user,
    path_sddl, security_sddl,
};

/// The descriptor Cordon gives its pipe: owned by `sid`, a protected DACL allowing `sid` all
/// access and nobody else anything.
pub fn private_sddl(sid: &str) -> String {
    format!("O:{sid}D:P(A;;GA;;;{sid})")
}

/// The DACL Cordon gives its data directories and private files: protected (nothing inherited
/// from the parent, such as a world-readable `C:\\` or a shared folder), full access for `sid`
/// alone, inherited by every file and directory later created inside (`OICI`).
pub fn private_path_sddl(sid: &str) -> String {
    format!("D:P(A;OICI;FA;;;{sid})")
}

/// The owner SID of an SDDL string (`O:...`), if it names one.
pub fn sddl_owner(sddl: &str) -> Option<&str> {
    let rest = sddl.strip_prefix("O:")?;
    let end = ["G:", "D:", "S:"]
        .iter()
        .filter_map(|tag| rest.find(tag))
        .min()
        .unwrap_or(rest.len());
    rest.get(..end)
}

/// Whether `sddl` (owner and DACL, as read back from a pipe) admits the user `sid` only: owned
/// by `sid`, a DACL present (a missing, i.e. NULL, DACL admits everyone), at least one ACE, and
/// every allow ACE for `sid` (deny ACEs only take access away).
pub fn admits_only(sddl: &str, sid: &str) -> bool {
    sddl_owner(sddl) == Some(sid) && allows_only(sddl, &[sid])
}

/// Whether the file or directory descriptor `sddl` keeps other users out: its DACL allows no
/// one but `sid`, SYSTEM and the Administrators (who can take any file anyway, as root reads a
/// 0600 file). The check behind "private" for data directories and key files.
pub fn private_to(sddl: &str, sid: &str) -> bool {
    allows_only(sddl, &[sid, "SY", "BA"])
}

/// Whether the DACL of `sddl` allows no one but `trusted` (SIDs or SDDL aliases such as `SY`
/// for SYSTEM and `BA` for the Administrators), whoever owns it: the Windows reading of "no
/// other user can read this file" (like Unix's 0600, which root still reads). A missing or
/// empty DACL fails, as in [`admits_only`].
pub fn allows_only(sddl: &str, trusted: &[&str]) -> bool {
    let Some(dacl_at) = sddl.find("D:") else {
        return false;
    };
    let dacl = sddl.get(dacl_at + 2..).unwrap_or_default();
    let dacl = match dacl.find("S:") {
        Some(end) => dacl.get(..end).unwrap_or_default(),
        None => dacl,
    };
    if dacl.contains("NO_ACCESS_CONTROL") {
        return false;
    }
    let mut aces = 0;
    for ace in dacl.split('(').skip(1) {
        let ace = ace.trim_end_matches(')');
        let fields: Vec<&str> = ace.split(';').collect();
        let (Some(kind), Some(account)) = (fields.first(), fields.get(5)) else {
            return false;
        };
        aces += 1;
        let allows = kind.starts_with('A') || kind.starts_with("XA") || kind.starts_with("ZA");
        if allows && !trusted.contains(account) {
            return false;
        }
    }
    aces > 0
}

#[cfg(test)]
mod tests {
    use super::*;

    const ME: &str = "S-1-5-21-1-2-3-1000";

    #[test]
    fn the_private_descriptor_admits_only_its_user() {
        assert!(admits_only(&private_sddl(ME), ME));
        assert_eq!(sddl_owner(&private_sddl(ME)), Some(ME));
        // As Windows prints it back (generic rights mapped to file rights).
        assert!(admits_only(&format!("O:{ME}D:P(A;;FA;;;{ME})"), ME));
        assert!(admits_only(&format!("O:{ME}G:{ME}D:P(A;;FA;;;{ME})"), ME));
        // A deny ACE for someone else only takes away.
        assert!(admits_only(
            &format!("O:{ME}D:P(D;;FA;;;WD)(A;;FA;;;{ME})"),
            ME
        ));
    }

    #[test]
    fn allows_only_accepts_the_trusted_and_nothing_wider() {
        let inherited = format!("O:{ME}D:(A;ID;FA;;;{ME})(A;ID;FA;;;SY)(A;ID;FA;;;BA)");
        assert!(allows_only(&inherited, &[ME, "SY", "BA"]));
        assert!(!allows_only(&inherited, &[ME]));
        let users = format!("O:{ME}D:(A;ID;FA;;;{ME})(A;ID;0x1200a9;;;BU)");
        assert!(!allows_only(&users, &[ME, "SY", "BA"]));
        assert!(!allows_only(&format!("O:{ME}D:NO_ACCESS_CONTROL"), &[ME]));
        assert!(!allows_only(&format!("O:{ME}D:P"), &[ME]));
    }

    #[test]
    fn private_to_admits_the_user_system_and_administrators_only() {
        // As Wine reads back a directory made private (it adds SYSTEM).
        assert!(private_to(
            &format!("O:{ME}D:(A;OICI;FA;;;SY)(A;OICI;FA;;;{ME})"),
            ME
        ));
        assert!(private_to(&format!("O:{ME}{}", private_path_sddl(ME)), ME));
        // World-readable (a 0755 directory under Wine), or Users.
        assert!(!private_to(
            &format!("O:{ME}D:(A;OICI;FA;;;SY)(A;OICI;FA;;;{ME})(A;OICI;0x1200a9;;;WD)"),
            ME
        ));
        assert!(!private_to(
            &format!("O:{ME}D:(A;;FA;;;{ME})(A;;0x1200a9;;;BU)"),
            ME
        ));
        assert!(!private_to(
            &format!("O:{ME}D:(A;;FA;;;S-1-5-21-1-2-3-1001)"),
            ME
        ));
    }

    #[test]
    fn the_private_path_dacl_admits_only_its_user() {
        // As read back from a file: Windows adds the owner, and files inside carry the ACE as
        // inherited (`ID`).
        assert!(admits_only(&format!("O:{ME}{}", private_path_sddl(ME)), ME));
        assert!(admits_only(&format!("O:{ME}D:P(A;ID;FA;;;{ME})"), ME));
        assert!(!admits_only(
            &format!("O:{ME}D:(A;OICIID;FA;;;{ME})(A;OICIID;0x1200a9;;;BU)"),
            ME
        ));
    }

    #[test]
    fn anything_wider_or_foreign_is_refused() {
        let other = "S-1-5-21-1-2-3-1001";
        // Another user's pipe.
        assert!(!admits_only(&private_sddl(other), ME));
        // Everyone, SYSTEM, Administrators or anonymous allowed as well.
        for extra in ["WD", "SY", "BA", "AN", other] {
            let sddl = format!("O:{ME}D:(A;;FA;;;{ME})(A;;FR;;;{extra})");
            assert!(!admits_only(&sddl, ME), "{sddl}");
        }
        // No DACL (everyone), an empty one, none at all, or no owner.
        assert!(!admits_only(&format!("O:{ME}D:NO_ACCESS_CONTROL"), ME));
        assert!(!admits_only(&format!("O:{ME}D:P"), ME));
        assert!(!admits_only(&format!("O:{ME}"), ME));
        assert!(!admits_only(&format!("D:P(A;;FA;;;{ME})"), ME));
        // A truncated ACE.
        assert!(!admits_only(&format!("O:{ME}D:P(A;;FA)"), ME));
    }
}
