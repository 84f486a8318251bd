//! Verification of the chain and the checkpoints, shared by the database and bundles.

use std::collections::HashSet;
use std::time::Instant;

use base64::Engine;
use ed25519_dalek::{Signature, VerifyingKey};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::keys::{fingerprint, parse_public_key};
use crate::record::GENESIS_HASH;
use crate::store::{Checkpoint, RawRecord, RecordedKey, read_checkpoints, read_keys};
use crate::{EvidenceError, EvidenceLog};

/// Which keys a verification trusts.
#[derive(Debug, Clone, Default)]
pub struct VerifyOptions {
    /// Public keys the checkpoints must be signed with (`--trusted-key`). Empty: the log's own
    /// signing key when available, else the first key recorded in the data (trust on first use).
    pub trusted_keys: Vec<VerifyingKey>,
}

/// Where the trusted key(s) came from; a report must say so, since a key recorded in the data
/// can be replaced by whoever controls the data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TrustSource {
    /// Given explicitly by the verifier.
    Pinned,
    /// The signing key in this machine's key store.
    KeyStore,
    /// The first key recorded in the database or bundle itself (not independently checked).
    Recorded,
}

/// What was wrong with the first bad record or checkpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureKind {
    /// A record is missing or out of order (seq not contiguous).
    SeqGap,
    /// `prev_hash` is not the previous record's hash (a record was rewritten or removed).
    BrokenLink,
    /// The stored hash does not match the record's content (a field was edited).
    HashMismatch,
    /// The args or diff text does not match the hash the record commits to.
    BlobMismatch,
    /// A row or line could not be read.
    Malformed,
    /// A checkpoint's signature is invalid or its key unknown.
    CheckpointSignature,
    /// A checkpoint was signed by a key that is not trusted.
    UntrustedKey,
    /// A checkpoint refers to a record that differs from the one that was signed (rewrite).
    CheckpointMismatch,
    /// A checkpoint refers to a record that no longer exists (truncation).
    Truncated,
    /// An outcome (or an approval) names an intent that is not an earlier, still open intent
    /// of the log: the intent was removed, or the outcome was forged or duplicated.
    UnmatchedOutcome,
}

/// The first problem found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Failure {
    /// What kind of problem.
    pub kind: FailureKind,
    /// The record (seq) at which it shows.
    pub seq: Option<u64>,
    /// That record's id, when known.
    pub id: Option<String>,
    /// A sentence for humans.
    pub message: String,
}

/// How one key was used by the checkpoints.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KeyUse {
    /// The key's fingerprint.
    pub fingerprint: String,
    /// Whether it is in the trusted set.
    pub trusted: bool,
    /// How many checkpoints it signed.
    pub checkpoints: u64,
}

/// The outcome of a verification.
#[derive(Debug, Clone, Serialize)]
pub struct VerifyReport {
    /// True when no problem was found.
    pub ok: bool,
    /// Records checked (full and elided).
    pub records: u64,
    /// Records present only as hash stubs (in filtered bundles).
    pub elided: u64,
    /// Checkpoints checked.
    pub checkpoints: u64,
    /// Seq of the last record.
    pub head_seq: u64,
    /// Hash of the last record.
    pub head_hash: Option<String>,
    /// Where the trusted keys came from.
    pub trust: TrustSource,
    /// Fingerprints of the trusted keys.
    pub trusted_fingerprints: Vec<String>,
    /// Every key that signed a checkpoint.
    pub keys: Vec<KeyUse>,
    /// Records after the last valid checkpoint: chained but not yet signed.
    pub unsigned_tail: u64,
    /// Intent records (write-ahead: one per call that was let through or held).
    pub intents: u64,
    /// Intents no record closes yet: calls in flight while the engine runs (the engine closes
    /// those left by a crash as `interrupted` when it starts).
    pub open_intents: u64,
    /// The first problem, if any.
    pub failure: Option<Failure>,
    /// Wall time of the verification, in seconds.
    pub seconds: f64,
    /// Records verified per second.
    pub records_per_second: f64,
}

/// Feeds records in order, then checkpoints, and reports the first failure.
pub(crate) struct ChainVerifier {
    started: Instant,
    next_seq: u64,
    prev: String,
    hashes: Vec<[u8; 32]>,
    elided: u64,
    failure: Option<Failure>,
    /// Intents not closed yet (id → seq).
    open: std::collections::HashMap<String, u64>,
    intents: u64,
}

fn hash_bytes(hex_text: &str) -> Option<[u8; 32]> {
    let mut out = [0u8; 32];
    hex::decode_to_slice(hex_text, &mut out).ok().map(|()| out)
}

impl ChainVerifier {
    pub(crate) fn new() -> Self {
        Self {
            started: Instant::now(),
            next_seq: 1,
            prev: GENESIS_HASH.to_string(),
            hashes: Vec::new(),
            elided: 0,
            failure: None,
            open: std::collections::HashMap::new(),
            intents: 0,
        }
    }

    /// Checks one full record's place in its write-ahead pair (after [`ChainVerifier::feed`]):
    /// an outcome, or an approval's intent, must close an earlier intent that is still open.
    pub(crate) fn pair(
        &mut self,
        seq: u64,
        id: &str,
        phase: Option<&str>,
        intent_id: Option<&str>,
    ) {
        if self.failed() {
            return;
        }
        if let Some(closed) = intent_id
            && self.open.remove(closed).is_none()
            // A filtered bundle may have elided the intent: nothing to check against.
            && self.elided == 0
        {
            self.fail(
                FailureKind::UnmatchedOutcome,
                Some(seq),
                Some(id),
                format!(
                    "record {seq} closes intent {closed}, which is not an earlier open intent (removed, forged or closed twice)"
                ),
            );
            return;
        }
        match phase {
            Some("intent") => {
                self.intents += 1;
                self.open.insert(id.to_owned(), seq);
            }
            None | Some("outcome") => {}
            Some(other) => self.fail(
                FailureKind::Malformed,
                Some(seq),
                Some(id),
                format!("record {seq}: unknown phase {other:?}"),
            ),
        }
    }

    pub(crate) fn failed(&self) -> bool {
        self.failure.is_some()
    }

    pub(crate) fn fail(
        &mut self,
        kind: FailureKind,
        seq: Option<u64>,
        id: Option<&str>,
        message: String,
    ) {
        if self.failure.is_none() {
            self.failure = Some(Failure {
                kind,
                seq,
                id: id.map(str::to_string),
                message,
            });
        }
    }

    pub(crate) fn expected_seq(&self) -> u64 {
        self.next_seq
    }

    /// Checks one record. `content` recomputes the record's hash (checking its blobs) or says
    /// what is wrong; None for an elided record (only its link can be checked).
    pub(crate) fn feed(
        &mut self,
        seq: u64,
        id: &str,
        prev_hash: &str,
        stored_hash: &str,
        content: Option<Result<String, (FailureKind, String)>>,
    ) {
        if self.failed() {
            return;
        }
        let expected = self.next_seq;
        if seq != expected {
            let message = if seq > expected {
                format!(
                    "record {seq} follows record {}: records {expected}..{} are missing",
                    expected.saturating_sub(1),
                    seq.saturating_sub(1)
                )
            } else {
                format!(
                    "record {seq} appears where record {expected} was expected (reordered or duplicated)"
                )
            };
            self.fail(FailureKind::SeqGap, Some(seq), Some(id), message);
            return;
        }
        if prev_hash != self.prev {
            self.fail(
                FailureKind::BrokenLink,
                Some(seq),
                Some(id),
                format!(
                    "record {seq}: prev_hash does not match the hash of record {}: record {} was rewritten or removed",
                    seq.saturating_sub(1),
                    seq.saturating_sub(1)
                ),
            );
            return;
        }
        match content {
            Some(Ok(computed)) if computed != stored_hash => {
                self.fail(
                    FailureKind::HashMismatch,
                    Some(seq),
                    Some(id),
                    format!("record {seq}: content does not match its hash (a field was edited)"),
                );
                return;
            }
            Some(Err((kind, message))) => {
                self.fail(
                    kind,
                    Some(seq),
                    Some(id),
                    format!("record {seq}: {message}"),
                );
                return;
            }
            Some(Ok(_)) => {}
            None => self.elided += 1,
        }
        let Some(bytes) = hash_bytes(stored_hash) else {
            self.fail(
                FailureKind::Malformed,
                Some(seq),
                Some(id),
                format!("record {seq}: hash is not 64 hex digits"),
            );
            return;
        };
        self.hashes.push(bytes);
        self.prev = stored_hash.to_string();
        self.next_seq = seq.saturating_add(1);
    }

    pub(crate) fn finish(
        mut self,
        checkpoints: &[Checkpoint],
        recorded: &[RecordedKey],
        trusted: &[VerifyingKey],
        trust: TrustSource,
    ) -> VerifyReport {
        let records = self.next_seq.saturating_sub(1);
        // Keys named by the data, kept only when the fingerprint really is that key's.
        let mut known: Vec<(String, VerifyingKey)> =
            trusted.iter().map(|k| (fingerprint(k), *k)).collect();
        for key in recorded {
            if let Ok(k) = parse_public_key(&key.public_key)
                && fingerprint(&k) == key.fingerprint
            {
                known.push((key.fingerprint.clone(), k));
            }
        }
        let (trusted_fps, trust) = if trusted.is_empty() {
            // Trust on first use of the data's own first key: reported as such.
            let first = recorded
                .iter()
                .find_map(|k| parse_public_key(&k.public_key).ok())
                .map(|k| vec![fingerprint(&k)])
                .unwrap_or_default();
            (first, TrustSource::Recorded)
        } else {
            (trusted.iter().map(fingerprint).collect::<Vec<_>>(), trust)
        };
        let mut keys: Vec<KeyUse> = Vec::new();
        let mut last_good = 0u64;
        let mut last_good_seq_for_msg = 0u64;
        for cp in checkpoints {
            match keys
                .iter_mut()
                .find(|k| k.fingerprint == cp.key_fingerprint)
            {
                Some(k) => k.checkpoints += 1,
                None => keys.push(KeyUse {
                    fingerprint: cp.key_fingerprint.clone(),
                    trusted: trusted_fps.contains(&cp.key_fingerprint),
                    checkpoints: 1,
                }),
            }
            if self.failed() {
                continue;
            }
            let at = Some(cp.seq);
            let Some((_, key)) = known.iter().find(|(fp, _)| *fp == cp.key_fingerprint) else {
                self.fail(
                    FailureKind::CheckpointSignature,
                    at,
                    None,
                    format!(
                        "checkpoint at record {} is signed by unknown key {}",
                        cp.seq, cp.key_fingerprint
                    ),
                );
                continue;
            };
            let signature_ok = cp
                .signed_message()
                .ok()
                .zip(
                    base64::engine::general_purpose::STANDARD
                        .decode(&cp.signature)
                        .ok()
                        .and_then(|b| Signature::from_slice(&b).ok()),
                )
                .is_some_and(|(msg, sig)| key.verify_strict(&msg, &sig).is_ok());
            if !signature_ok {
                self.fail(
                    FailureKind::CheckpointSignature,
                    at,
                    None,
                    format!(
                        "checkpoint at record {}: signature invalid (checkpoint forged or edited)",
                        cp.seq
                    ),
                );
                continue;
            }
            if !trusted_fps.contains(&cp.key_fingerprint) {
                self.fail(
                    FailureKind::UntrustedKey,
                    at,
                    None,
                    format!(
                        "checkpoint at record {} is signed by key {}, which is not the trusted key ({}): the log was re-signed",
                        cp.seq,
                        cp.key_fingerprint,
                        if trusted_fps.is_empty() { "none".to_string() } else { trusted_fps.join(", ") }
                    ),
                );
                continue;
            }
            if cp.count != cp.seq {
                self.fail(
                    FailureKind::CheckpointMismatch,
                    at,
                    None,
                    format!(
                        "checkpoint at record {} claims {} records",
                        cp.seq, cp.count
                    ),
                );
                continue;
            }
            let index = usize::try_from(cp.seq).ok().and_then(|s| s.checked_sub(1));
            let Some(stored) = index.and_then(|i| self.hashes.get(i)) else {
                let message = if cp.seq == 0 {
                    "checkpoint at record 0 is malformed".to_string()
                } else {
                    format!(
                        "a signed checkpoint covers {} records but the log ends at record {records}: records {}..{} were removed (truncation)",
                        cp.seq,
                        records.saturating_add(1),
                        cp.seq
                    )
                };
                self.fail(FailureKind::Truncated, at, None, message);
                continue;
            };
            if hash_bytes(&cp.head_hash).as_ref() != Some(stored) {
                self.fail(
                    FailureKind::CheckpointMismatch,
                    at,
                    None,
                    format!(
                        "record {} differs from the one signed at checkpoint time: records {}..{} were rewritten",
                        cp.seq,
                        last_good_seq_for_msg.saturating_add(1),
                        cp.seq
                    ),
                );
                continue;
            }
            last_good = last_good.max(cp.seq);
            last_good_seq_for_msg = cp.seq;
        }
        let seconds = self.started.elapsed().as_secs_f64();
        let head_hash = self.hashes.last().map(hex::encode);
        VerifyReport {
            ok: self.failure.is_none(),
            records,
            elided: self.elided,
            checkpoints: u64::try_from(checkpoints.len()).unwrap_or(u64::MAX),
            head_seq: records,
            head_hash,
            trust,
            trusted_fingerprints: trusted_fps,
            keys,
            unsigned_tail: records.saturating_sub(last_good),
            intents: self.intents,
            open_intents: u64::try_from(self.open.len()).unwrap_or(u64::MAX),
            failure: self.failure,
            seconds,
            #[allow(clippy::cast_precision_loss)]
            records_per_second: if seconds > 0.0 {
                records as f64 / seconds
            } else {
                0.0
            },
        }
    }
}

/// The records' columns without the blob texts (verify checks blobs separately).
const RECORDS_ONLY_SELECT: &str = "SELECT r.seq, r.id, r.timestamp, r.agent, r.session_id, \
    r.server, r.tool, r.action, r.target, r.risk_tags, r.decision, r.rule_id, r.reason, \
    r.policy_version, r.reviewer, r.outcome, r.args_sha256, r.diff_sha256, r.duration_ms, \
    r.error, r.prev_hash, r.hash, NULL, NULL, r.phase, r.intent_id, r.approval_channel \
    FROM records r ORDER BY r.seq";

/// What the reader hands the checker.
enum Chunk {
    /// Rows in seq order.
    Rows(Vec<RawRecord>),
    /// Rows, then a row that could not be read.
    Unreadable(Vec<RawRecord>, String),
}

/// Reads all records in seq order in chunks; stops early when the checker hung up.
fn read_chunks(
    conn: &rusqlite::Connection,
    to_checker: &std::sync::mpsc::SyncSender<Chunk>,
) -> Result<(), EvidenceError> {
    let mut stmt = conn.prepare(RECORDS_ONLY_SELECT)?;
    let mut rows = stmt.query([])?;
    loop {
        let mut chunk = Vec::with_capacity(VERIFY_CHUNK);
        let mut last = false;
        while chunk.len() < VERIFY_CHUNK {
            let Some(row) = rows.next()? else {
                last = true;
                break;
            };
            match RawRecord::from_row(row) {
                Ok(raw) => chunk.push(raw),
                Err(e) => {
                    let _ = to_checker.send(Chunk::Unreadable(chunk, e.to_string()));
                    return Ok(());
                }
            }
        }
        if to_checker.send(Chunk::Rows(chunk)).is_err() || last {
            return Ok(());
        }
    }
}

/// Records read before their hashes are recomputed in parallel.
const VERIFY_CHUNK: usize = 16_384;

/// [`check_raw`] over a chunk, split across the available cores; results in input order.
fn parallel_check(
    chunk: &[RawRecord],
    blobs: &HashSet<[u8; 32]>,
) -> Vec<Result<String, (FailureKind, String)>> {
    // One core reads rows; the others hash.
    let threads = std::thread::available_parallelism()
        .map(std::num::NonZeroUsize::get)
        .unwrap_or(1)
        .saturating_sub(1)
        .clamp(1, 8);
    if threads == 1 || chunk.len() < 1024 {
        return chunk.iter().map(|r| check_raw(r, blobs)).collect();
    }
    let per = chunk.len().div_ceil(threads);
    std::thread::scope(|scope| {
        let handles: Vec<_> = chunk
            .chunks(per)
            .map(|part| {
                scope.spawn(move || part.iter().map(|r| check_raw(r, blobs)).collect::<Vec<_>>())
            })
            .collect();
        let mut out = Vec::with_capacity(chunk.len());
        for (handle, part) in handles.into_iter().zip(chunk.chunks(per)) {
            match handle.join() {
                Ok(results) => out.extend(results),
                // A panicking worker cannot vouch for its records: report them as unverified.
                Err(_) => out.extend(part.iter().map(|_| {
                    Err((
                        FailureKind::Malformed,
                        "verification worker failed".to_string(),
                    ))
                })),
            }
        }
        out
    })
}

/// The keys of the blobs whose text matches the hash they are stored under.
fn verified_blobs(conn: &rusqlite::Connection) -> Result<HashSet<[u8; 32]>, EvidenceError> {
    let mut good = HashSet::new();
    let mut stmt = conn.prepare("SELECT sha256, content FROM blobs")?;
    let mut rows = stmt.query([])?;
    while let Some(row) = rows.next()? {
        let (Ok(key), Ok(content)) = (row.get_ref(0)?.as_str(), row.get_ref(1)?.as_str()) else {
            continue; // not text: treated as missing
        };
        let digest: [u8; 32] = Sha256::digest(content.as_bytes()).into();
        if hash_bytes(key) == Some(digest) {
            good.insert(digest);
        }
    }
    Ok(good)
}

/// Checks that a row's blobs exist unaltered and recomputes its hash.
fn check_raw(raw: &RawRecord, blobs: &HashSet<[u8; 32]>) -> Result<String, (FailureKind, String)> {
    let present = |key: &str| hash_bytes(key).is_some_and(|k| blobs.contains(&k));
    if !present(&raw.args_sha256) {
        return Err((
            FailureKind::BlobMismatch,
            "args text was edited or removed".to_string(),
        ));
    }
    if let Some(diff) = &raw.diff_sha256
        && !present(diff)
    {
        return Err((
            FailureKind::BlobMismatch,
            "diff text was edited or removed".to_string(),
        ));
    }
    let tags: Vec<String> = serde_json::from_str(&raw.risk_tags).map_err(|_| {
        (
            FailureKind::Malformed,
            "risk_tags is not a JSON string array".to_string(),
        )
    })?;
    raw.compute_hash(&tags)
        .map_err(|e| (FailureKind::Malformed, e.to_string()))
}

impl EvidenceLog {
    /// Verifies the whole database against this log's own signing key (or, opened read-only,
    /// the first recorded key: see [`TrustSource::Recorded`]).
    pub fn verify(&self) -> Result<VerifyReport, EvidenceError> {
        self.verify_with(&VerifyOptions::default())
    }

    /// Verifies the whole database against the given trusted keys.
    pub fn verify_with(&self, options: &VerifyOptions) -> Result<VerifyReport, EvidenceError> {
        let (trusted, trust) = if !options.trusted_keys.is_empty() {
            (options.trusted_keys.clone(), TrustSource::Pinned)
        } else if let Some(own) = self.public_key() {
            (vec![own], TrustSource::KeyStore)
        } else {
            (Vec::new(), TrustSource::Recorded)
        };
        self.with_snapshot(|conn| {
            let verifier = ChainVerifier::new();
            // Blobs first, in one sequential pass: every text must match the hash it is stored
            // under. Records then only need set lookups (no random reads into the blobs tree).
            let blobs = verified_blobs(conn)?;
            // The reader (this thread: the connection cannot move) sends chunks of rows to a
            // checker thread, which recomputes hashes (in parallel when cores allow) and feeds
            // the verifier in order; reading and hashing overlap.
            let (to_checker, chunks) = std::sync::mpsc::sync_channel::<Chunk>(2);
            let blobs = &blobs;
            let verifier = std::thread::scope(|scope| -> Result<ChainVerifier, EvidenceError> {
                let checker = scope.spawn(move || {
                    let mut verifier = verifier;
                    for chunk in chunks {
                        let (rows, unreadable) = match chunk {
                            Chunk::Rows(rows) => (rows, None),
                            Chunk::Unreadable(rows, e) => (rows, Some(e)),
                        };
                        let results = parallel_check(&rows, blobs);
                        for (raw, content) in rows.iter().zip(results) {
                            let seq = u64::try_from(raw.seq).unwrap_or(0);
                            verifier.feed(seq, &raw.id, &raw.prev_hash, &raw.hash, Some(content));
                            verifier.pair(
                                seq,
                                &raw.id,
                                raw.phase.as_deref(),
                                raw.intent_id.as_deref(),
                            );
                        }
                        if let Some(e) = unreadable {
                            let seq = verifier.expected_seq();
                            verifier.fail(
                                FailureKind::Malformed,
                                Some(seq),
                                None,
                                format!("record {seq}: unreadable row ({e})"),
                            );
                        }
                        if verifier.failed() {
                            break; // dropping the receiver stops the reader
                        }
                    }
                    verifier
                });
                let read = read_chunks(conn, &to_checker);
                drop(to_checker);
                let verifier = checker
                    .join()
                    .map_err(|_| EvidenceError::Corrupt("verification worker failed".into()))?;
                read?;
                Ok(verifier)
            })?;
            let checkpoints = read_checkpoints(conn)?;
            let keys = read_keys(conn)?;
            Ok(verifier.finish(&checkpoints, &keys, &trusted, trust))
        })
    }
}
