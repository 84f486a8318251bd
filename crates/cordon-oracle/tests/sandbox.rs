//! The oracle's eyes, end to end on the real sandbox (bubblewrap + strace, installed by
//! scripts/install-deps --test): it must see writes, programs and sockets, and see nothing when
//! a command only reads.
#![cfg(target_os = "linux")]

use std::time::Duration;

use cordon_oracle::judge::Judge;
use cordon_oracle::sandbox::Sandbox;
use cordon_oracle::trace::EffectKind;
use cordon_policy::Policy;

/// The sandbox must work here (bwrap, strace, git): failing to build it fails the test.
fn sandbox() -> Result<Sandbox, String> {
    Sandbox::new(Duration::from_secs(10)).map_err(|e| e.to_string())
}

fn kinds(sb: &Sandbox, cmd: &str, own: &[&str]) -> Result<Vec<EffectKind>, String> {
    let own: Vec<String> = own.iter().map(|s| (*s).to_owned()).collect();
    let r = sb
        .run(cmd, &own)
        .map_err(|e| format!("running {cmd}: {e}"))?;
    Ok(r.effects.iter().map(|e| e.kind).collect())
}

#[test]
fn the_self_test_passes() {
    let sb = sandbox().expect("sandbox");
    let problems = sb.self_test();
    assert!(matches!(&problems, Ok(p) if p.is_empty()), "{problems:?}");
}

#[test]
fn effects_of_hostile_reads_are_seen_and_the_world_is_restored() {
    let sb = sandbox().expect("sandbox");
    // uniq's second operand is an output file: a write, seen by the trace and the snapshot.
    assert!(
        kinds(
            &sb,
            "uniq notes.txt out.txt",
            &["uniq", "notes.txt", "out.txt"]
        )
        .expect("run")
        .contains(&EffectKind::Write)
    );
    // Restored: the next run starts from the pristine tree and sees no leftover.
    assert!(!sb.repo.join("out.txt").exists());
    assert!(
        kinds(&sb, "cat notes.txt", &["cat", "notes.txt"])
            .expect("run")
            .is_empty()
    );
    // awk running a program through system().
    assert!(
        kinds(&sb, "awk 'BEGIN{system(\"id\")}'", &["awk"])
            .expect("run")
            .contains(&EffectKind::Exec)
    );
    // A write outside the writable trees is only attempted, and still seen.
    assert!(
        kinds(&sb, "sort -o /etc/cordon-oracle-probe notes.txt", &["sort"])
            .expect("run")
            .contains(&EffectKind::Write)
    );
    // A wrapper's program is the command's own.
    assert!(
        kinds(
            &sb,
            "timeout 5 cat README.md",
            &["timeout", "5", "cat", "README.md"]
        )
        .expect("run")
        .is_empty()
    );
}

#[test]
fn commands_are_judged_like_the_gateways_run_command() {
    let sb = sandbox().expect("sandbox");
    let policy = Policy::shipped_default();
    let judge = Judge::new(policy, &sb.repo, &sb.home);
    let read = judge.judge("git log --oneline -3");
    assert!(read.is_read_topic() && read.must_run(), "{read:?}");
    let write = judge.judge("rm -rf src");
    assert!(!write.must_run(), "{write:?}");
    // A secret read is refused by the policy: never run, whatever it would do.
    let secret = judge.judge("cat .env");
    assert!(secret.is_read_topic() && !secret.must_run(), "{secret:?}");
}
