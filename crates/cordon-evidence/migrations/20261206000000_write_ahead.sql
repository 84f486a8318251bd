-- Write-ahead evidence (issue 15): a call's intent is recorded before it runs, its outcome after.
-- `phase` is `intent`, `outcome`, or NULL for a record that is complete on its own (a call refused
-- before anything ran, and every record written before this migration). `intent_id` is, on an
-- outcome, the id of the intent it closes (on an approved intent: the held intent it follows).
-- Both columns are covered by the record's hash (format v2; NULL-phase records keep format v1).

ALTER TABLE records ADD COLUMN phase TEXT;
ALTER TABLE records ADD COLUMN intent_id TEXT;

-- Finding the intents no later record closes (at engine start) must not scan the whole log.
CREATE INDEX records_intent_id ON records (intent_id) WHERE intent_id IS NOT NULL;
CREATE INDEX records_phase ON records (phase, seq) WHERE phase = 'intent';
