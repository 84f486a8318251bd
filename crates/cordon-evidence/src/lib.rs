//! Append-only, hash-chained, signed evidence log of every governed tool call.
//!
//! "Every risky action emits one immutable evidence record." This crate keeps that promise in a
//! way an auditor who does not trust the machine can check.
//!
//! # Storage
//!
//! One SQLite database (WAL, `synchronous=FULL`: an acknowledged append survives `kill -9` and
//! power loss, except a [`Durability::Committed`] one, which survives `kill -9` only until the
//! next synced commit). `records` is the truth; `args` and `diff` texts live whole in a content-addressed
//! `blobs` table (the record's hash covers their sha256). Triggers refuse UPDATE and DELETE on
//! every table. Appends run in `BEGIN IMMEDIATE` transactions with a busy timeout, and read the
//! head inside the transaction, so appenders in several processes produce one chain. Within a
//! process, concurrent [`EvidenceLog::append`] calls share commits (group commit): one fsync for
//! everything queued, and every caller returns only once its record is durable.
//!
//! The engine's mutable runtime state (limit counters, the kill switch) is kept in the same
//! database, in tables of its own outside the chain, through [`RuntimeState`]: the log type only
//! appends and reads.
//!
//! Queries ([`Filter`]) use the indexes on agent, session, action, decision, outcome and time;
//! action patterns are NATS style (`*` one token, `>` the rest), with or without the
//! `job.mcp-bridge.` prefix.
//!
//! # Write-ahead pairs
//!
//! A call that runs leaves two records: an *intent* (`phase: intent`: agent, session, call,
//! decision, rule, approval; its `outcome` is what is about to happen: `allowed`, `approved`, or
//! `pending` while held for a human), appended durably before the call is forwarded, and an
//! *outcome* (`phase: outcome`, `intent_id` = the intent's id) after it. An approval is a second
//! intent naming the held one in `intent_id`. A call refused before anything ran leaves one
//! record without a phase (as every record did before write-ahead). At start the engine closes
//! every intent without an outcome as `interrupted` ([`EvidenceLog::close_open_intents`]).
//! Intents are appended [`Durability::Synced`]; outcomes may be [`Durability::Committed`]
//! (survive a killed process, fsynced by the next synced commit).
//!
//! # Chain
//!
//! `hash = sha256(canonical JSON of every field except hash)`, with `args`/`diff` replaced by
//! `args_sha256`/`diff_sha256` (sha256 of the stored text, `serde_json` compact form) and a
//! format version `v`. The canonical JSON is RFC 8785 for the subset used: sorted keys, no
//! whitespace, only strings, unsigned integers, string arrays and null (a known-answer test in
//! `record.rs` pins the exact bytes). Records without a phase use format `v: 1`, exactly as
//! before write-ahead (old logs verify unchanged); phased records use `v: 2`, which adds `phase`
//! and `intent_id` (null on a first intent). The first `prev_hash` is 64 zeros; `seq` is
//! 1-based and contiguous.
//!
//! # Exports
//!
//! JSON Lines and CSV (formula-looking cells prefixed with `'`, removed again by [`read_csv`]) for
//! people and tools; a bundle (JSON Lines: header, public keys, policy snapshots, every record in
//! seq order, checkpoints) for [`verify_bundle`]. A filtered bundle keeps the records outside the
//! filter as hash-only stubs so the chain and the signatures still verify.
//!
//! # Checkpoints
//!
//! Every N records (default 100) and on [`EvidenceLog::checkpoint`] (the gateway calls it on
//! shutdown) the head is signed with ed25519: the signature covers `{count, head_hash,
//! key_fingerprint, seq, timestamp, type}`. The private key lives in the OS keychain
//! ([`KeyStore::Keychain`]) or, by explicit opt-in, a 0600 file ([`KeyStore::File`]).
//!
//! # Threat model
//!
//! - Accidents and casual edits (a tool or user running UPDATE/DELETE): refused by triggers.
//! - An attacker who can write the database file but cannot read the signing key: may drop the
//!   triggers and edit, delete, reorder or truncate records and recompute the chain. `verify`
//!   catches it: a recomputed chain no longer matches the signed checkpoints; deleting records
//!   that a checkpoint covers is reported as truncation; re-signing with their own key (and
//!   replacing the public key rows) fails because verification trusts the key store's key or a
//!   key pinned with `--trusted-key`, never silently the one recorded in the data.
//! - Limits: records after the last checkpoint are chained but unsigned (`unsigned_tail` in the
//!   report) and can be rewritten or dropped together with later checkpoints; the same holds for
//!   the whole log if the attacker can read the signing key (the `File` store makes that easier).
//!   A bundle verified without a pinned key only proves internal consistency under the key it
//!   carries: compare the printed fingerprint with a known one. Policy snapshots are protected by
//!   triggers only (their version label carries the policy's content hash). Keep exported bundles
//!   elsewhere to anchor history.
//! - Secrets: the caller redacts args before appending; this crate stores what it is given.

pub mod browse;
mod error;
mod export;
mod filter;
mod keys;
mod placement;
mod record;
mod runtime;
mod session;
mod store;
mod verify;

/// The ed25519 public key type used by [`VerifyOptions`] (re-exported so callers need no
/// direct ed25519-dalek dependency).
pub use ed25519_dalek::VerifyingKey;
pub use error::{EvidenceError, is_storage_io_fault};
pub use export::{
    BUNDLE_FORMAT, BundleHeader, BundleLine, ElidedRecord, ExportFormat, PolicySnapshot, read_csv,
    read_jsonl, verify_bundle, verify_bundle_with,
};
pub use filter::{Filter, TOPIC_PREFIX, action_matches};
pub use keys::{KEYCHAIN_USER, KeyStore, fingerprint, parse_public_key, public_key_hex};
pub use record::{DECISIONS, GENESIS_HASH, NewRecord, Outcome, Phase, Record, format_timestamp};
pub use runtime::{LOG_KEYS, RuntimeState};
pub use session::{SessionTrail, TrailEntry};
pub use store::{
    Checkpoint, DEFAULT_CHECKPOINT_INTERVAL, Durability, EvidenceLog, RecordedKey, default_path,
};
pub use verify::{Failure, FailureKind, KeyUse, TrustSource, VerifyOptions, VerifyReport};
