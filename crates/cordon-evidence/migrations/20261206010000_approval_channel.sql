-- Which channel approved a held call (issue 14: approvals must be proven, and the evidence says
-- how): `tray-window`, `notification`, `cli-code`, `session-grant`, ... NULL for records without
-- an approval, and for every record written before this column existed. Hashed only when set,
-- so older records keep their hashes.
ALTER TABLE records ADD COLUMN approval_channel TEXT;
