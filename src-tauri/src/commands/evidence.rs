//! The evidence viewer's commands (capabilities/evidence.json).
//!
//! Exports are written where the user picks in a save dialog that the shell itself opens: the
//! page never hands the shell a path, so a compromised page cannot make it write anywhere.

use cordon_admin::{
    ActivityBucket, EvidencePage, EvidenceQuery, ExportKind, Exported, VerifySummary,
};
use cordon_evidence::Record;
use tauri::AppHandle;
use tauri_plugin_dialog::DialogExt;

use super::blocking;
use crate::core::DesktopError;

/// One page of records, filtered, newest first.
#[tauri::command]
pub async fn evidence_query(
    app: AppHandle,
    query: EvidenceQuery,
) -> Result<EvidencePage, DesktopError> {
    blocking(&app, move |core| Ok(core.admin().evidence_query(&query)?)).await
}

/// One whole record (arguments, the approved diff, hashes).
#[tauri::command]
pub async fn evidence_record(app: AppHandle, id: String) -> Result<Record, DesktopError> {
    blocking(&app, move |core| Ok(core.admin().evidence_record(&id)?)).await
}

/// The agents that appear in the log (the filter's choices).
#[tauri::command]
pub async fn evidence_agents(app: AppHandle) -> Result<Vec<String>, DesktopError> {
    blocking(&app, move |core| Ok(core.admin().evidence_agents()?)).await
}

/// Calls over time by decision and agent (the activity chart).
#[tauri::command]
pub async fn evidence_activity(
    app: AppHandle,
    since: Option<String>,
    bucket_secs: u64,
) -> Result<Vec<ActivityBucket>, DesktopError> {
    blocking(&app, move |core| {
        Ok(core
            .admin()
            .evidence_activity(since.as_deref(), bucket_secs)?)
    })
    .await
}

/// Verifies the hash chain and the signed checkpoints.
#[tauri::command]
pub async fn evidence_verify(app: AppHandle) -> Result<VerifySummary, DesktopError> {
    blocking(&app, move |core| Ok(core.admin().evidence_verify()?)).await
}

/// Asks where to save (a native dialog the shell opens: the page only suggests a file name),
/// then exports the records matching `query` (all when absent; its page size and cursor are
/// ignored: an export is never cut at one page). `None` when the user cancelled.
#[tauri::command]
pub async fn evidence_export(
    app: AppHandle,
    format: ExportKind,
    query: Option<EvidenceQuery>,
    suggested_name: Option<String>,
) -> Result<Option<Exported>, DesktopError> {
    let (extension, label) = match format {
        ExportKind::Jsonl => ("jsonl", "JSON Lines"),
        ExportKind::Csv => ("csv", "CSV"),
        ExportKind::Bundle => ("jsonl", "Evidence bundle (JSON Lines)"),
    };
    let name = suggested_file_name(suggested_name.as_deref())
        .unwrap_or_else(|| format!("cordon-evidence.{extension}"));
    let (tx, rx) = tokio::sync::oneshot::channel();
    app.dialog()
        .file()
        .set_title("Export Cordon evidence")
        .set_file_name(name)
        .add_filter(label, &[extension])
        .save_file(move |picked| {
            let _ = tx.send(picked);
        });
    let picked = rx
        .await
        .map_err(|_| DesktopError::Io("the save dialog closed without an answer".to_owned()))?;
    let Some(picked) = picked else {
        return Ok(None);
    };
    let path = picked
        .into_path()
        .map_err(|e| DesktopError::Invalid(format!("not a local file: {e}")))?;
    blocking(&app, move |core| {
        Ok(Some(core.admin().evidence_export(
            format,
            &path,
            query.as_ref(),
        )?))
    })
    .await
}

/// The page's suggestion, if it is a plain file name (no directories, no control characters):
/// it only pre-fills the dialog, but nothing from the page is used as a path.
pub fn suggested_file_name(name: Option<&str>) -> Option<String> {
    let name = name?.trim();
    let plain = !name.is_empty()
        && name.chars().count() <= 128
        && !name.starts_with('.')
        && !name.chars().any(|c| {
            c.is_control() || matches!(c, '/' | '\\' | ':' | '*' | '?' | '"' | '<' | '>' | '|')
        });
    plain.then(|| name.to_owned())
}

#[cfg(test)]
mod tests {
    use super::suggested_file_name;

    #[test]
    fn only_plain_file_names_are_suggested() {
        assert_eq!(
            suggested_file_name(Some("cordon-evidence-20261125.csv")).as_deref(),
            Some("cordon-evidence-20261125.csv")
        );
        for bad in [
            None,
            Some(""),
            Some("../../etc/passwd"),
            Some("/tmp/x.csv"),
            Some("a\\b.csv"),
            Some(".bashrc"),
            Some("x\n.csv"),
            Some("C:x.csv"),
        ] {
            assert_eq!(suggested_file_name(bad), None, "{bad:?}");
        }
        assert_eq!(suggested_file_name(Some(&"x".repeat(200))), None);
    }
}
