//! The team store in PostgreSQL: append-only tables, shipping, fleet verify and fleet queries.
//!
//! Each row keeps the exact JSON text the machine's chain hashed (`line`), so the store can be
//! verified offline by the same code that verifies an exported bundle
//! ([`cordon_evidence::verify_bundle_with`]). The index columns beside it are copies for queries;
//! verification never trusts them.

use std::collections::BTreeMap;
use std::io::Cursor as IoCursor;

use cordon_evidence::{
    BUNDLE_FORMAT, BundleHeader, Record, VerifyOptions, VerifyReport, VerifyingKey,
    verify_bundle_with,
};
use tokio_postgres::{Client, NoTls};

use crate::FleetError;
use crate::source::Batch;

/// The schema: three append-only tables and the trigger that keeps them so (even for roles that
/// were granted UPDATE or DELETE by mistake). The triggers are per statement, so an UPDATE or
/// DELETE is refused even when it matches no row (a per-row trigger let it "succeed" on an empty
/// table, which reads like permission). Idempotent: a store made by an older Cordon gets the
/// per-statement triggers in place of its per-row ones.
pub const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS cordon_records (
    machine     text        NOT NULL,
    seq         bigint      NOT NULL,
    id          text        NOT NULL UNIQUE,
    hash        text        NOT NULL,
    prev_hash   text        NOT NULL,
    ts          text        NOT NULL,
    agent       text        NOT NULL,
    session_id  text        NOT NULL,
    action      text        NOT NULL,
    decision    text        NOT NULL,
    outcome     text        NOT NULL,
    line        text        NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (machine, seq)
);
CREATE INDEX IF NOT EXISTS cordon_records_session ON cordon_records (session_id);
CREATE INDEX IF NOT EXISTS cordon_records_agent_ts ON cordon_records (agent, ts);
CREATE INDEX IF NOT EXISTS cordon_records_ts ON cordon_records (ts);
CREATE TABLE IF NOT EXISTS cordon_checkpoints (
    machine         text        NOT NULL,
    seq             bigint      NOT NULL,
    key_fingerprint text        NOT NULL,
    signature       text        NOT NULL,
    line            text        NOT NULL,
    received_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (machine, signature)
);
CREATE TABLE IF NOT EXISTS cordon_keys (
    machine     text        NOT NULL,
    fingerprint text        NOT NULL,
    line        text        NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (machine, fingerprint)
);
CREATE OR REPLACE FUNCTION cordon_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the Cordon evidence store is append-only: % on % refused', TG_OP, TG_TABLE_NAME;
END
$$;
CREATE OR REPLACE TRIGGER cordon_records_append_only BEFORE UPDATE OR DELETE ON cordon_records
    FOR EACH STATEMENT EXECUTE FUNCTION cordon_append_only();
CREATE OR REPLACE TRIGGER cordon_records_no_truncate BEFORE TRUNCATE ON cordon_records
    FOR EACH STATEMENT EXECUTE FUNCTION cordon_append_only();
CREATE OR REPLACE TRIGGER cordon_checkpoints_append_only BEFORE UPDATE OR DELETE ON cordon_checkpoints
    FOR EACH STATEMENT EXECUTE FUNCTION cordon_append_only();
CREATE OR REPLACE TRIGGER cordon_checkpoints_no_truncate BEFORE TRUNCATE ON cordon_checkpoints
    FOR EACH STATEMENT EXECUTE FUNCTION cordon_append_only();
CREATE OR REPLACE TRIGGER cordon_keys_append_only BEFORE UPDATE OR DELETE ON cordon_keys
    FOR EACH STATEMENT EXECUTE FUNCTION cordon_append_only();
CREATE OR REPLACE TRIGGER cordon_keys_no_truncate BEFORE TRUNCATE ON cordon_keys
    FOR EACH STATEMENT EXECUTE FUNCTION cordon_append_only();
"#;

const TABLES: &str = "cordon_records, cordon_checkpoints, cordon_keys";

/// Connects to the store. The connection task runs on the current tokio runtime.
pub async fn connect(url: &str) -> Result<Client, FleetError> {
    if url.contains("sslmode=require") || url.contains("sslmode=verify") {
        return Err(FleetError::Config(
            "TLS connections to the team store are not supported yet: reach PostgreSQL over a \
             local socket, a VPN or an SSH tunnel (sslmode=disable)"
                .into(),
        ));
    }
    let (client, connection) = tokio_postgres::connect(url, NoTls).await?;
    tokio::spawn(async move {
        if let Err(error) = connection.await {
            tracing::warn!(%error, "fleet: postgres connection ended");
        }
    });
    Ok(client)
}

/// Whether `name` is a plain SQL identifier we may interpolate (lowercase, digits, `_`).
fn is_identifier(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        && !name.as_bytes().first().is_some_and(u8::is_ascii_digit)
}

/// Creates the schema (run once by the store's owner) and, for `shipper_role`, grants INSERT and
/// SELECT only: the role that machines ship with can never change or remove evidence.
pub async fn setup(client: &Client, shipper_role: Option<&str>) -> Result<(), FleetError> {
    client.batch_execute(SCHEMA).await?;
    if let Some(role) = shipper_role {
        if !is_identifier(role) {
            return Err(FleetError::Config(format!(
                "role name `{role}` must be a plain identifier ([a-z_][a-z0-9_]*)"
            )));
        }
        client
            .batch_execute(&format!(
                "REVOKE ALL ON {TABLES} FROM {role};
                 GRANT SELECT, INSERT ON {TABLES} TO {role};"
            ))
            .await?;
    }
    Ok(())
}

/// Ships one batch in one transaction. Rows already present (a resend after an outage) are
/// skipped by their keys; a different record already stored at one of this machine's positions
/// is a [`FleetError::Fork`] and nothing of the batch is committed.
pub async fn ship(client: &mut Client, machine: &str, batch: &Batch) -> Result<(), FleetError> {
    let tx = client.transaction().await?;
    for key in &batch.keys {
        let line = serde_json::to_string(&cordon_evidence::BundleLine::Key(key.clone()))
            .map_err(|e| FleetError::Malformed(e.to_string()))?;
        tx.execute(
            "INSERT INTO cordon_keys (machine, fingerprint, line) VALUES ($1, $2, $3) \
             ON CONFLICT DO NOTHING",
            &[&machine, &key.fingerprint, &line],
        )
        .await?;
    }
    if !batch.records.is_empty() {
        let mut cols: [Vec<String>; 10] = Default::default();
        let mut seqs: Vec<i64> = Vec::with_capacity(batch.records.len());
        for shipped in &batch.records {
            let r = &shipped.record;
            seqs.push(i64::try_from(r.seq).map_err(|e| FleetError::Malformed(e.to_string()))?);
            let values = [
                r.id.clone(),
                r.hash.clone(),
                r.prev_hash.clone(),
                r.timestamp.clone(),
                r.agent.clone(),
                r.session_id.clone(),
                r.action.clone(),
                r.decision.clone(),
                r.outcome.as_str().to_string(),
                shipped.line.clone(),
            ];
            for (col, value) in cols.iter_mut().zip(values) {
                col.push(value);
            }
        }
        let [
            ids,
            hashes,
            prevs,
            tss,
            agents,
            sessions,
            actions,
            decisions,
            outcomes,
            lines,
        ] = &cols;
        tx.execute(
            "INSERT INTO cordon_records \
             (machine, seq, id, hash, prev_hash, ts, agent, session_id, action, decision, outcome, line) \
             SELECT $1, * FROM UNNEST($2::bigint[], $3::text[], $4::text[], $5::text[], $6::text[], \
             $7::text[], $8::text[], $9::text[], $10::text[], $11::text[], $12::text[]) \
             ON CONFLICT DO NOTHING",
            &[
                &machine, &seqs, ids, hashes, prevs, tss, agents, sessions, actions, decisions,
                outcomes, lines,
            ],
        )
        .await?;
        // Whatever was skipped must be the very same record: anything else is a fork.
        let first = seqs.first().copied().unwrap_or(0);
        let last = seqs.last().copied().unwrap_or(0);
        let rows = tx
            .query(
                "SELECT seq, hash FROM cordon_records WHERE machine = $1 AND seq BETWEEN $2 AND $3",
                &[&machine, &first, &last],
            )
            .await?;
        let stored: BTreeMap<i64, String> = rows
            .iter()
            .map(|row| Ok((row.try_get::<_, i64>(0)?, row.try_get::<_, String>(1)?)))
            .collect::<Result<_, tokio_postgres::Error>>()?;
        for shipped in &batch.records {
            let seq = i64::try_from(shipped.record.seq).unwrap_or(i64::MAX);
            let found = stored.get(&seq);
            if found != Some(&shipped.record.hash) {
                return Err(FleetError::Fork {
                    machine: machine.to_string(),
                    seq: shipped.record.seq,
                    stored: found.cloned().unwrap_or_else(|| {
                        "none (its id is stored for another machine)".to_string()
                    }),
                    local: shipped.record.hash.clone(),
                });
            }
        }
    }
    for cp in &batch.checkpoints {
        let line = serde_json::to_string(&cordon_evidence::BundleLine::Checkpoint(cp.clone()))
            .map_err(|e| FleetError::Malformed(e.to_string()))?;
        let seq = i64::try_from(cp.seq).unwrap_or(i64::MAX);
        tx.execute(
            "INSERT INTO cordon_checkpoints (machine, seq, key_fingerprint, signature, line) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
            &[&machine, &seq, &cp.key_fingerprint, &cp.signature, &line],
        )
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// The result of verifying one machine's chain in the store.
#[derive(Debug, Clone, serde::Serialize)]
pub struct MachineReport {
    /// The machine name.
    pub machine: String,
    /// Whether its checkpoints were checked against a key the team pinned for it.
    pub pinned: bool,
    /// The evidence crate's report (its `failure` names the seq and record id).
    pub report: VerifyReport,
}

/// Keys the team pinned: per machine, or for every machine (`None`).
pub type PinnedKeys = BTreeMap<Option<String>, Vec<VerifyingKey>>;

/// The machines present in the store.
pub async fn machines(client: &Client) -> Result<Vec<String>, FleetError> {
    let rows = client
        .query(
            "SELECT machine FROM cordon_records UNION SELECT machine FROM cordon_checkpoints \
             UNION SELECT machine FROM cordon_keys ORDER BY 1",
            &[],
        )
        .await?;
    rows.iter()
        .map(|r| r.try_get::<_, String>(0).map_err(FleetError::from))
        .collect()
}

/// Verifies every machine's chain in the store (or only `only`): sequence, links, each record's
/// hash recomputed from its stored text, and the checkpoints' signatures against the pinned keys
/// (a machine's own, or the team-wide ones). With no pinned key at all, each machine's first
/// recorded key is trusted and the report says so.
pub async fn verify(
    client: &Client,
    pinned: &PinnedKeys,
    only: Option<&str>,
) -> Result<Vec<MachineReport>, FleetError> {
    let mut out = Vec::new();
    for machine in machines(client).await? {
        if only.is_some_and(|m| m != machine) {
            continue;
        }
        let mut trusted: Vec<VerifyingKey> = pinned.get(&None).cloned().unwrap_or_default();
        trusted.extend(
            pinned
                .get(&Some(machine.clone()))
                .cloned()
                .unwrap_or_default(),
        );
        let is_pinned = !trusted.is_empty();
        let bundle = bundle_of(client, &machine).await?;
        let report = verify_bundle_with(
            IoCursor::new(bundle),
            &VerifyOptions {
                trusted_keys: trusted,
            },
        )?;
        out.push(MachineReport {
            machine,
            pinned: is_pinned,
            report,
        });
    }
    Ok(out)
}

/// One machine's evidence as a bundle (the offline format `cordon log verify --bundle` reads).
pub async fn bundle_of(client: &Client, machine: &str) -> Result<Vec<u8>, FleetError> {
    let keys = client
        .query(
            "SELECT line FROM cordon_keys WHERE machine = $1 ORDER BY received_at, fingerprint",
            &[&machine],
        )
        .await?;
    let records = client
        .query(
            "SELECT line FROM cordon_records WHERE machine = $1 ORDER BY seq",
            &[&machine],
        )
        .await?;
    let checkpoints = client
        .query(
            "SELECT line FROM cordon_checkpoints WHERE machine = $1 ORDER BY seq, received_at",
            &[&machine],
        )
        .await?;
    let head_seq = u64::try_from(records.len()).unwrap_or(u64::MAX);
    let header = BundleHeader {
        cordon_evidence_bundle: BUNDLE_FORMAT,
        exported_at: cordon_evidence::format_timestamp(time::OffsetDateTime::now_utc())?,
        head_seq,
        full_records: head_seq,
    };
    let mut out = serde_json::to_vec(&header).map_err(|e| FleetError::Malformed(e.to_string()))?;
    out.push(b'\n');
    for row in &keys {
        out.extend_from_slice(row.try_get::<_, String>(0)?.as_bytes());
        out.push(b'\n');
    }
    for row in &records {
        // The stored text is the record itself; a bundle line wraps it as `{"record": …}`.
        out.extend_from_slice(b"{\"record\":");
        out.extend_from_slice(row.try_get::<_, String>(0)?.as_bytes());
        out.extend_from_slice(b"}\n");
    }
    for row in &checkpoints {
        out.extend_from_slice(row.try_get::<_, String>(0)?.as_bytes());
        out.push(b'\n');
    }
    Ok(out)
}

/// Which records a fleet query wants; unset fields match everything.
#[derive(Debug, Clone, Default)]
pub struct StoreFilter {
    /// Exact machine.
    pub machine: Option<String>,
    /// Exact agent.
    pub agent: Option<String>,
    /// Exact session id.
    pub session: Option<String>,
    /// Topic pattern, NATS style, matched as the local log matches it (whole action, or the
    /// part after `job.mcp-bridge.`).
    pub action: Option<String>,
    /// Exact decision.
    pub decision: Option<String>,
    /// Exact outcome (`allowed`, `denied`, ...).
    pub outcome: Option<String>,
    /// Records at or after this time (RFC 3339).
    pub since: Option<String>,
    /// Records strictly before this time (RFC 3339).
    pub until: Option<String>,
    /// Continue after this seq of `machine` (newest first: `seq <`; oldest first: `seq >`).
    /// Seqs are per machine: callers must set `machine` with it.
    pub after_seq: Option<i64>,
    /// At most this many (newest first unless `oldest_first`).
    pub limit: Option<i64>,
    /// Oldest first (session trails read in order).
    pub oldest_first: bool,
}

/// A NATS topic pattern as an anchored PostgreSQL regular expression with the same meaning as
/// the local log's `action_matches`: `*` one token, a final `>` one or more tokens, anything
/// else literal; matched against the whole action or the part after `job.mcp-bridge.`. `None`
/// for a pattern the policy language refuses (`git.>.x`, an empty token), which matches nothing,
/// as it matches nothing in the local log.
pub fn action_regex(pattern: &str) -> Option<String> {
    cordon_classify::TopicPattern::parse(pattern).ok()?;
    let tokens: Vec<&str> = pattern.split('.').collect();
    let last = tokens.len().saturating_sub(1);
    let body: Vec<String> = tokens
        .iter()
        .enumerate()
        .map(|(i, t)| match *t {
            "*" => "[^.]+".to_owned(),
            ">" if i == last => ".+".to_owned(),
            literal => literal
                .chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || c == '_' {
                        c.to_string()
                    } else {
                        format!("\\{c}")
                    }
                })
                .collect(),
        })
        .collect();
    Some(format!("^(job\\.mcp-bridge\\.)?{}$", body.join("\\.")))
}

/// Records across machines matching `filter`, each with its machine.
pub async fn query(
    client: &Client,
    filter: &StoreFilter,
) -> Result<Vec<(String, Record)>, FleetError> {
    let order = if filter.oldest_first { "ASC" } else { "DESC" };
    let after = if filter.oldest_first { ">" } else { "<" };
    let sql = format!(
        "SELECT machine, line FROM cordon_records \
         WHERE ($1::text IS NULL OR machine = $1) AND ($2::text IS NULL OR agent = $2) \
         AND ($3::text IS NULL OR session_id = $3) AND ($4::text IS NULL OR decision = $4) \
         AND ($6::text IS NULL OR action ~ $6) AND ($7::text IS NULL OR outcome = $7) \
         AND ($8::text IS NULL OR ts::timestamptz >= $8::timestamptz) \
         AND ($9::text IS NULL OR ts::timestamptz < $9::timestamptz) \
         AND ($10::bigint IS NULL OR seq {after} $10) \
         ORDER BY ts {order}, machine, seq {order} LIMIT $5"
    );
    let limit = filter.limit.unwrap_or(i64::MAX);
    let action = match filter.action.as_deref() {
        None => None,
        Some(pattern) => match action_regex(pattern) {
            Some(regex) => Some(regex),
            // Refused by the policy language: matches nothing, as in the local log.
            None => return Ok(Vec::new()),
        },
    };
    let rows = client
        .query(
            &sql,
            &[
                &filter.machine,
                &filter.agent,
                &filter.session,
                &filter.decision,
                &limit,
                &action,
                &filter.outcome,
                &filter.since,
                &filter.until,
                &filter.after_seq,
            ],
        )
        .await?;
    rows.iter()
        .map(|row| {
            let machine: String = row.try_get(0)?;
            let line: String = row.try_get(1)?;
            let record: Record = serde_json::from_str(&line)
                .map_err(|e| FleetError::Malformed(format!("stored record: {e}")))?;
            Ok((machine, record))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn action_patterns_become_anchored_regexes() {
        // What they match is tested against a real PostgreSQL in tests/e2e/test_fleet.py.
        let cases = [
            ("git.*", r"^(job\.mcp-bridge\.)?git\.[^.]+$"),
            ("read.>", r"^(job\.mcp-bridge\.)?read\..+$"),
            ("b+c.d", r"^(job\.mcp-bridge\.)?b\+c\.d$"),
            (
                "tool.my-srv.run",
                r"^(job\.mcp-bridge\.)?tool\.my\-srv\.run$",
            ),
        ];
        for (pattern, want) in cases {
            assert_eq!(action_regex(pattern).as_deref(), Some(want), "{pattern}");
        }
        // What the local log's matcher refuses matches nothing here either.
        for refused in ["a>.b", "x.>.y", "git..push", "", "re*d.file"] {
            assert_eq!(action_regex(refused), None, "{refused}");
            assert!(!cordon_evidence::action_matches(
                refused,
                &format!("job.mcp-bridge.{refused}")
            ));
        }
    }

    #[test]
    fn role_names_are_plain_identifiers() {
        assert!(is_identifier("cordon_ship"));
        assert!(!is_identifier("x; DROP TABLE cordon_records"));
        assert!(!is_identifier("Ship"));
        assert!(!is_identifier("1abc"));
        assert!(!is_identifier(""));
    }
}
