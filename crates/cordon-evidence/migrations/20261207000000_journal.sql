-- The journal (issue 15, latency): a call's records are appended here first, one narrow row each,
-- so a commit writes a page or two instead of the ten or so pages of `records`, its eight indexes
-- and `blobs`. Rows are folded into `records` and `blobs` in batches: while the engine is idle,
-- inline once many are waiting, and before anything reads the log. A row holds the whole record
-- (its columns, args and diff texts) numbered, chained and hashed exactly as it lands in `records`:
-- folding moves it and never changes it. Not append-only: folding deletes what it moved, in the
-- same transaction; the hash chain and signed checkpoints guard the records, here as there.

CREATE TABLE journal (
    seq  INTEGER PRIMARY KEY,                     -- the record's seq
    hash TEXT    NOT NULL,                        -- the record's hash (the chain's head lives here)
    body TEXT    NOT NULL                         -- the record as stored: JSON of its columns
);
