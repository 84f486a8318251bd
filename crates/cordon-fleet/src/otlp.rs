//! OpenTelemetry logs over OTLP/HTTP (protobuf), for the SIEMs teams already run.
//!
//! Each evidence record becomes one log record: the body is the record's exact JSON text (so a
//! SIEM keeps what the chain hashed), the attributes carry the fields people filter on, and the
//! resource names the machine. Checkpoints are log records too (`cordon.evidence.checkpoint`),
//! so a SIEM can check signatures later. Delivery is at least once: receivers deduplicate by
//! `cordon.record.id`.

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{
    AnyValue, InstrumentationScope, KeyValue, any_value::Value,
};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs, SeverityNumber};
use opentelemetry_proto::tonic::resource::v1::Resource;
use prost::Message;

use crate::FleetError;
use crate::source::Batch;

/// Event name of a shipped evidence record.
pub const RECORD_EVENT: &str = "cordon.evidence.record";
/// Event name of a shipped checkpoint.
pub const CHECKPOINT_EVENT: &str = "cordon.evidence.checkpoint";

fn text(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.to_string(),
        value: Some(AnyValue {
            value: Some(Value::StringValue(value.to_string())),
        }),
        ..Default::default()
    }
}

fn int(key: &str, value: u64) -> KeyValue {
    KeyValue {
        key: key.to_string(),
        value: Some(AnyValue {
            value: Some(Value::IntValue(i64::try_from(value).unwrap_or(i64::MAX))),
        }),
        ..Default::default()
    }
}

fn unix_nanos(timestamp: &str) -> u64 {
    time::OffsetDateTime::parse(timestamp, &time::format_description::well_known::Rfc3339)
        .ok()
        .and_then(|t| u64::try_from(t.unix_timestamp_nanos()).ok())
        .unwrap_or(0)
}

/// Encodes a batch as an OTLP `ExportLogsServiceRequest` (protobuf bytes).
pub fn encode(machine: &str, batch: &Batch) -> Result<Vec<u8>, FleetError> {
    let mut logs = Vec::with_capacity(batch.records.len() + batch.checkpoints.len());
    for shipped in &batch.records {
        let r = &shipped.record;
        let denied = matches!(r.decision.as_str(), "deny") || r.outcome.as_str() != "allowed";
        let severity = if denied {
            SeverityNumber::Warn
        } else {
            SeverityNumber::Info
        };
        let mut attributes = vec![
            text("cordon.machine", machine),
            text("cordon.record.id", &r.id),
            int("cordon.record.seq", r.seq),
            text("cordon.record.hash", &r.hash),
            text("cordon.record.prev_hash", &r.prev_hash),
            text("cordon.agent", &r.agent),
            text("cordon.session_id", &r.session_id),
            text("cordon.action", &r.action),
            text("cordon.decision", &r.decision),
            text("cordon.outcome", r.outcome.as_str()),
            text("cordon.policy_version", &r.policy_version),
        ];
        if let Some(rule) = &r.rule_id {
            attributes.push(text("cordon.rule_id", rule));
        }
        if let Some(reviewer) = &r.reviewer {
            attributes.push(text("cordon.reviewer", reviewer));
        }
        let t = unix_nanos(&r.timestamp);
        logs.push(LogRecord {
            time_unix_nano: t,
            observed_time_unix_nano: t,
            severity_number: severity as i32,
            severity_text: if denied { "WARN" } else { "INFO" }.to_string(),
            event_name: RECORD_EVENT.to_string(),
            body: Some(AnyValue {
                value: Some(Value::StringValue(shipped.line.clone())),
            }),
            attributes,
            ..Default::default()
        });
    }
    for cp in &batch.checkpoints {
        let line = serde_json::to_string(cp).map_err(|e| FleetError::Malformed(e.to_string()))?;
        let t = unix_nanos(&cp.timestamp);
        logs.push(LogRecord {
            time_unix_nano: t,
            observed_time_unix_nano: t,
            severity_number: SeverityNumber::Info as i32,
            severity_text: "INFO".to_string(),
            event_name: CHECKPOINT_EVENT.to_string(),
            body: Some(AnyValue {
                value: Some(Value::StringValue(line)),
            }),
            attributes: vec![
                text("cordon.machine", machine),
                int("cordon.checkpoint.seq", cp.seq),
                text("cordon.checkpoint.key_fingerprint", &cp.key_fingerprint),
            ],
            ..Default::default()
        });
    }
    let request = ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: Some(Resource {
                attributes: vec![text("service.name", "cordon"), text("host.name", machine)],
                ..Default::default()
            }),
            scope_logs: vec![ScopeLogs {
                scope: Some(InstrumentationScope {
                    name: "cordon-fleet".to_string(),
                    version: env!("CARGO_PKG_VERSION").to_string(),
                    ..Default::default()
                }),
                log_records: logs,
                ..Default::default()
            }],
            ..Default::default()
        }],
    };
    Ok(request.encode_to_vec())
}

/// An OTLP/HTTP logs endpoint.
pub struct OtlpSink {
    client: reqwest::Client,
    endpoint: String,
    headers: Vec<(String, String)>,
}

impl OtlpSink {
    /// A sink posting to `endpoint` (the full `/v1/logs` URL) with extra `headers`.
    pub fn new(endpoint: &str, headers: &[(String, String)]) -> Result<OtlpSink, FleetError> {
        if !(endpoint.starts_with("http://") || endpoint.starts_with("https://")) {
            return Err(FleetError::Config(format!(
                "otlp endpoint `{endpoint}` must be an http:// or https:// URL (e.g. \
                 http://collector:4318/v1/logs)"
            )));
        }
        // reqwest is built without a default crypto provider; the engine installs ring. Make
        // sure one is there when shipping runs on its own (`cordon fleet ship`).
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(30))
            .build()
            .map_err(|e| FleetError::Otlp {
                endpoint: endpoint.to_string(),
                message: e.to_string(),
            })?;
        Ok(OtlpSink {
            client,
            endpoint: endpoint.to_string(),
            headers: headers.to_vec(),
        })
    }

    /// Posts one batch; Ok only on a 2xx answer.
    pub async fn ship(&self, machine: &str, batch: &Batch) -> Result<(), FleetError> {
        let body = encode(machine, batch)?;
        let mut request = self
            .client
            .post(&self.endpoint)
            .header("content-type", "application/x-protobuf")
            .body(body);
        for (name, value) in &self.headers {
            request = request.header(name.as_str(), value.as_str());
        }
        let err = |message: String| FleetError::Otlp {
            endpoint: self.endpoint.clone(),
            message,
        };
        let response = request.send().await.map_err(|e| err(e.to_string()))?;
        let status = response.status();
        if status.is_success() {
            Ok(())
        } else {
            Err(err(format!("answered HTTP {status}")))
        }
    }
}
