-- Evidence log schema, version 1.
-- `records` is the truth (hash-chained); `blobs` holds args/diff texts addressed by sha256 (the
-- record's hash covers the blob hash); `checkpoints` are signed heads; `signing_keys` are the public
-- keys that signed them; `policy_snapshots` keep each policy version's sources once.

CREATE TABLE records (
    seq            INTEGER PRIMARY KEY,           -- 1-based, contiguous
    id             TEXT    NOT NULL UNIQUE,       -- ULID
    timestamp      TEXT    NOT NULL,              -- RFC 3339 UTC, millisecond precision
    agent          TEXT    NOT NULL,
    session_id     TEXT    NOT NULL,
    server         TEXT    NOT NULL,
    tool           TEXT    NOT NULL,
    action         TEXT    NOT NULL,
    target         TEXT,
    risk_tags      TEXT    NOT NULL,              -- JSON array of strings
    decision       TEXT    NOT NULL,
    rule_id        TEXT,
    reason         TEXT    NOT NULL,
    policy_version TEXT    NOT NULL,
    reviewer       TEXT,
    outcome        TEXT    NOT NULL,
    args_sha256    TEXT    NOT NULL,
    diff_sha256    TEXT,
    duration_ms    INTEGER NOT NULL,
    error          TEXT,
    prev_hash      TEXT    NOT NULL,
    hash           TEXT    NOT NULL
);

CREATE INDEX records_agent    ON records (agent, seq);
CREATE INDEX records_session  ON records (session_id, seq);
CREATE INDEX records_action   ON records (action, seq);
CREATE INDEX records_decision ON records (decision, seq);
CREATE INDEX records_outcome  ON records (outcome, seq);
CREATE INDEX records_time     ON records (timestamp);

CREATE TABLE blobs (
    sha256  TEXT PRIMARY KEY,
    content TEXT NOT NULL
) WITHOUT ROWID;

CREATE TABLE signing_keys (
    fingerprint TEXT PRIMARY KEY,
    algorithm   TEXT NOT NULL,
    public_key  TEXT NOT NULL,                    -- hex of the 32-byte ed25519 public key
    added_at    TEXT NOT NULL
);

CREATE TABLE checkpoints (
    id              INTEGER PRIMARY KEY,
    seq             INTEGER NOT NULL,
    head_hash       TEXT    NOT NULL,
    count           INTEGER NOT NULL,
    timestamp       TEXT    NOT NULL,
    key_fingerprint TEXT    NOT NULL,
    signature       TEXT    NOT NULL              -- base64 of the 64-byte ed25519 signature
);
CREATE INDEX checkpoints_seq ON checkpoints (seq);

CREATE TABLE policy_snapshots (
    version     TEXT PRIMARY KEY,
    sources     TEXT NOT NULL,                    -- JSON array of [name, text] pairs
    sha256      TEXT NOT NULL,
    recorded_at TEXT NOT NULL
);

-- Append-only: the database itself refuses rewrites. (An attacker with file access can drop these
-- triggers; the hash chain and the signed checkpoints catch what they do next.)
CREATE TRIGGER records_no_update BEFORE UPDATE ON records
BEGIN SELECT RAISE(ABORT, 'evidence records are append-only: UPDATE refused'); END;
CREATE TRIGGER records_no_delete BEFORE DELETE ON records
BEGIN SELECT RAISE(ABORT, 'evidence records are append-only: DELETE refused'); END;
CREATE TRIGGER blobs_no_update BEFORE UPDATE ON blobs
BEGIN SELECT RAISE(ABORT, 'evidence blobs are append-only: UPDATE refused'); END;
CREATE TRIGGER blobs_no_delete BEFORE DELETE ON blobs
BEGIN SELECT RAISE(ABORT, 'evidence blobs are append-only: DELETE refused'); END;
CREATE TRIGGER checkpoints_no_update BEFORE UPDATE ON checkpoints
BEGIN SELECT RAISE(ABORT, 'evidence checkpoints are append-only: UPDATE refused'); END;
CREATE TRIGGER checkpoints_no_delete BEFORE DELETE ON checkpoints
BEGIN SELECT RAISE(ABORT, 'evidence checkpoints are append-only: DELETE refused'); END;
CREATE TRIGGER signing_keys_no_update BEFORE UPDATE ON signing_keys
BEGIN SELECT RAISE(ABORT, 'evidence signing keys are append-only: UPDATE refused'); END;
CREATE TRIGGER signing_keys_no_delete BEFORE DELETE ON signing_keys
BEGIN SELECT RAISE(ABORT, 'evidence signing keys are append-only: DELETE refused'); END;
CREATE TRIGGER policy_snapshots_no_update BEFORE UPDATE ON policy_snapshots
BEGIN SELECT RAISE(ABORT, 'policy snapshots are append-only: UPDATE refused'); END;
CREATE TRIGGER policy_snapshots_no_delete BEFORE DELETE ON policy_snapshots
BEGIN SELECT RAISE(ABORT, 'policy snapshots are append-only: DELETE refused'); END;
