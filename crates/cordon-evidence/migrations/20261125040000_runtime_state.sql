-- Runtime state of the engine, kept next to the evidence so it survives a restart (issue 9).
-- Not part of the hash chain: these rows are mutable working state, not evidence. Every call the
-- counters account for has its own hash-chained record in `records`.
--
-- `counters`: one row per (scope, limit): scope is a session id or `agent:<name>`, the state a
-- JSON object (calls, writes, bytes, files, started_ms).
-- `engine_state`: small key/value settings such as the kill switch (`pause`).

CREATE TABLE counters (
    scope      TEXT NOT NULL,
    limit_id   TEXT NOT NULL,
    state      TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (scope, limit_id)
);

CREATE TABLE engine_state (
    key        TEXT PRIMARY KEY,
    value      TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
