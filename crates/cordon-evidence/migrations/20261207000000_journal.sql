-- The journal (issue 15, latency): a lone call's records are appended here, one row each in a
-- table with no secondary index, so a commit writes a page or two instead of the ten or so pages
-- of `records`, its eight indexes and `blobs` (group commits of concurrent calls, which share
-- those pages, go straight to `records`). Rows are folded into `records` and `blobs` by SQL alone
-- (INSERT ... SELECT, then DELETE), in batches: while the engine is idle, first by an append that
-- finds many waiting or by any group commit, and before anything reads the log.
-- A row is a `records` row, numbered, chained and hashed exactly as it lands there, plus the args
-- and diff texts that go to `blobs`: folding moves it and never changes it. Not append-only:
-- folding deletes what it moved, in the same transaction; the hash chain and the signed
-- checkpoints guard the records, here as there.

CREATE TABLE journal (
    seq              INTEGER PRIMARY KEY,
    id               TEXT    NOT NULL,
    timestamp        TEXT    NOT NULL,
    agent            TEXT    NOT NULL,
    session_id       TEXT    NOT NULL,
    server           TEXT    NOT NULL,
    tool             TEXT    NOT NULL,
    action           TEXT    NOT NULL,
    target           TEXT,
    risk_tags        TEXT    NOT NULL,
    decision         TEXT    NOT NULL,
    rule_id          TEXT,
    reason           TEXT    NOT NULL,
    policy_version   TEXT    NOT NULL,
    reviewer         TEXT,
    outcome          TEXT    NOT NULL,
    args_sha256      TEXT    NOT NULL,
    diff_sha256      TEXT,
    duration_ms      INTEGER NOT NULL,
    error            TEXT,
    prev_hash        TEXT    NOT NULL,
    hash             TEXT    NOT NULL,
    phase            TEXT,
    intent_id        TEXT,
    approval_channel TEXT,
    args             TEXT    NOT NULL,            -- the text `blobs` keeps under args_sha256
    diff             TEXT,                        -- the text `blobs` keeps under diff_sha256
    CHECK ((diff IS NULL) = (diff_sha256 IS NULL))
);
