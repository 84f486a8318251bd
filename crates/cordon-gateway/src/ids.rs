//! JSON-RPC ids as the agent sent them.
//!
//! rmcp carries an id as a string or an `i64`; an agent may send any JSON value. Every transport
//! (the bridge, HTTP) swaps an id rmcp would change for a token of its own on the way in and puts
//! the agent's text back on the way out. This module owns the one rule that decides which ids
//! need that, so the transports cannot drift apart on it.

/// Whether rmcp carries this id text (the raw JSON of a well-formed message's `id`) unchanged: a
/// string serde_json writes back the same (no escapes, or only the ones it writes itself), or an
/// integer written exactly as rmcp writes it back. `-0`, `1.5`, `1e3`, `1.0`, integers beyond
/// `i64`, `"\u0041"` (written back as `"A"`) and `"\ud800"` (a lone surrogate, refused) are not.
pub fn id_is_native(raw: &str) -> bool {
    if raw.starts_with('"') {
        return !raw.contains('\\')
            || serde_json::from_str::<String>(raw)
                .ok()
                .and_then(|text| serde_json::to_string(&text).ok())
                .is_some_and(|back| back == raw);
    }
    raw.parse::<i64>().is_ok_and(|n| n.to_string() == raw)
}

/// A request whose id was swapped for a token of Cordon's own.
#[derive(Debug, PartialEq, Eq)]
pub struct SwappedId {
    /// The request with the token where its id stood; every other byte as it came.
    pub message: Vec<u8>,
    /// The token as JSON text (with its quotes), as it comes back in replies.
    pub token: String,
    /// The id exactly as the agent wrote it.
    pub raw: String,
}

/// The members of a message that tell what it is and which request it names, unread (each a
/// slice of the message itself, so it can be replaced where it stands).
#[derive(serde::Deserialize)]
struct Probe<'a> {
    #[serde(default, borrow)]
    id: Option<&'a serde_json::value::RawValue>,
    #[serde(default, borrow)]
    method: Option<&'a serde_json::value::RawValue>,
    #[serde(default, borrow)]
    params: Option<&'a serde_json::value::RawValue>,
}

/// `message` with its id replaced by a token, when it is a request (it has a `method`) whose id
/// rmcp would not carry unchanged ([`id_is_native`]); None otherwise, or when the message is not
/// one JSON object. The id is found without reading the message into values and replaced where
/// it stands, so ids serde_json cannot hold (`1E400`, `"\ud800"`) are swapped too, and the
/// rest of the message reaches the engine byte for byte.
pub fn swap_request_id(message: &[u8]) -> Option<SwappedId> {
    let probe: Probe<'_> = serde_json::from_slice(message).ok()?;
    probe.method?;
    let raw = probe.id?.get().trim();
    if id_is_native(raw) {
        return None;
    }
    let token = format!("\"cordon-id-{}\"", ulid::Ulid::new());
    // The raw id is a slice of `message` itself (borrowed, never copied): replaced in place.
    let swapped = replace_at(message, raw, &token)?;
    Some(SwappedId {
        message: swapped,
        token,
        raw: raw.to_owned(),
    })
}

/// The one member of a cancellation's params that names a request.
#[derive(serde::Deserialize)]
struct CancelledParams<'a> {
    #[serde(default, borrow, rename = "requestId")]
    request_id: Option<&'a serde_json::value::RawValue>,
}

/// A `notifications/cancelled` as a transport must pass it on (see [`swap_cancelled_id`]).
#[derive(Debug, PartialEq, Eq)]
pub enum Cancellation {
    /// Not a cancellation naming an id rmcp cannot hold: the message goes on as it is.
    AsIs,
    /// It names a swapped request still in flight: this rewrite, naming its token, goes on.
    Rewritten(Vec<u8>),
    /// It names an id rmcp cannot hold, and no request in flight has it: there is nothing to
    /// cancel, and a notification gets no answer. (Passed on, rmcp would refuse it whole: 415
    /// over HTTP.)
    Stale,
}

/// A `notifications/cancelled` naming a request by the id the agent wrote, rewritten to name it
/// by the token it travels under (`token_for` maps the agent's id text to that token). Without
/// this a request whose id was swapped could never be cancelled: the engine knows it only by
/// its token.
pub fn swap_cancelled_id(
    message: &[u8],
    token_for: impl Fn(&str) -> Option<String>,
) -> Cancellation {
    let Some(raw) = cancelled_raw_id(message) else {
        return Cancellation::AsIs;
    };
    if id_is_native(raw) {
        return Cancellation::AsIs;
    }
    match token_for(raw).and_then(|token| replace_at(message, raw, &token)) {
        Some(rewritten) => Cancellation::Rewritten(rewritten),
        None => Cancellation::Stale,
    }
}

/// The request id a `notifications/cancelled` names, as written (a slice of `message`).
fn cancelled_raw_id(message: &[u8]) -> Option<&str> {
    let probe: Probe<'_> = serde_json::from_slice(message).ok()?;
    if probe.method?.get() != "\"notifications/cancelled\"" {
        return None;
    }
    let params: CancelledParams<'_> = serde_json::from_str(probe.params?.get()).ok()?;
    Some(params.request_id?.get().trim())
}

/// `message` with `part` (a slice of `message` itself) replaced by `with`.
fn replace_at(message: &[u8], part: &str, with: &str) -> Option<Vec<u8>> {
    let start = (part.as_ptr() as usize).checked_sub(message.as_ptr() as usize)?;
    let end = start.checked_add(part.len())?;
    if message.get(start..end)? != part.as_bytes() {
        return None;
    }
    let mut out = Vec::with_capacity(message.len() + with.len());
    out.extend_from_slice(message.get(..start)?);
    out.extend_from_slice(with.as_bytes());
    out.extend_from_slice(message.get(end..)?);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_ids_that_round_trip_through_rmcp_are_native() {
        for native in [
            "7",
            "0",
            "-4",
            "-9223372036854775808",
            "9223372036854775807",
            "\"s\"",
            "\"1.5\"",
            "\"\\u0000x\"",
            "\"a\\\"b\"",
        ] {
            assert!(id_is_native(native), "{native}");
        }
        for swapped in [
            "-0",
            "1.5",
            "1e3",
            "1.0",
            "-0.0",
            "9223372036854775808",
            "12345678901234567890123",
            "1E400",
            "\"\\u0041\"",
            "\"\\/\"",
            "\"\\ud800\"",
        ] {
            assert!(!id_is_native(swapped), "{swapped}");
        }
    }

    /// Differential: for the ids rmcp reads at all, native means rmcp's own id type writes back
    /// the very text; the ones it refuses are never native.
    #[test]
    fn native_means_rmcp_writes_the_same_text_back() {
        for raw in [
            "0",
            "-0",
            "-4",
            "42",
            "-9223372036854775808",
            "1.0",
            "1e3",
            "\"x\"",
            "\"\\u0041\"",
            "\"\\u0000x\"",
            "\"\\ud800\"",
            "1E400",
        ] {
            let Ok(id) = serde_json::from_str::<rmcp::model::NumberOrString>(raw) else {
                assert!(
                    !id_is_native(raw),
                    "{raw}: rmcp refuses it, so it must be swapped"
                );
                continue;
            };
            let back = serde_json::to_string(&id).unwrap();
            assert_eq!(id_is_native(raw), back == raw, "{raw} came back as {back}");
        }
    }

    /// The id is replaced where it stands, whatever it is, and nothing else changes.
    #[test]
    fn a_request_id_is_swapped_in_place_and_nothing_else() {
        for raw in [
            "1.5",
            "1e3",
            "9223372036854775808",
            "12345678901234567890123",
            "-0.0",
            "-0",
            "1E400",
            "\"\\ud800\"",
            "\"\\u0041\"",
        ] {
            let message = format!(
                r#"{{"jsonrpc":"2.0", "id" : {raw} ,"method":"ping","params":{{"n":1E400}}}}"#
            );
            let swapped = swap_request_id(message.as_bytes()).unwrap();
            assert_eq!(swapped.raw, raw);
            assert!(swapped.token.starts_with("\"cordon-id-"));
            let back = String::from_utf8(swapped.message).unwrap();
            // What rmcp reads in the id's place is the token, a string id.
            assert!(
                back.contains(&format!(r#""id" : {} ,"#, swapped.token)),
                "{back}"
            );
            // Its answers come back with the id exactly as sent.
            assert_eq!(back.replace(&swapped.token, raw), message);
        }
    }

    #[test]
    fn native_ids_responses_and_non_messages_are_left_alone() {
        for message in [
            r#"{"jsonrpc":"2.0","id":7,"method":"ping"}"#,
            r#"{"jsonrpc":"2.0","id":"s","method":"ping"}"#,
            r#"{"jsonrpc":"2.0","id":"1.5","method":"ping"}"#,
            r#"{"jsonrpc":"2.0","id":-9223372036854775808,"method":"ping"}"#,
            r#"{"jsonrpc":"2.0","id":1.5,"result":{}}"#,
            r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#,
            r#"[{"jsonrpc":"2.0","id":1.5,"method":"ping"}]"#,
            r#"{"jsonrpc":"2.0","id":1.5,"id":2,"method":"ping"}"#,
            "not json",
        ] {
            assert_eq!(swap_request_id(message.as_bytes()), None, "{message}");
        }
    }

    #[test]
    fn a_cancellation_names_the_swapped_request_by_its_token() {
        let token_for = |raw: &str| (raw == "1.5").then(|| "\"cordon-id-T\"".to_owned());
        let cancel = br#"{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"reason":"r","requestId": 1.5}}"#;
        let Cancellation::Rewritten(swapped) = swap_cancelled_id(cancel, token_for) else {
            panic!("not rewritten");
        };
        assert_eq!(
            String::from_utf8(swapped).unwrap(),
            r#"{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"reason":"r","requestId": "cordon-id-T"}}"#
        );
        for untouched in [
            &br#"{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":7}}"#[..],
            br#"{"jsonrpc":"2.0","method":"notifications/progress","params":{"requestId":1.5}}"#,
            br#"{"jsonrpc":"2.0","method":"notifications/cancelled"}"#,
            b"nonsense",
        ] {
            assert_eq!(swap_cancelled_id(untouched, token_for), Cancellation::AsIs);
        }
        // An id rmcp cannot hold that no request in flight has: nothing to cancel.
        for stale in [
            &br#"{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":2.5}}"#
                [..],
            br#"{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":1E400}}"#,
        ] {
            assert_eq!(swap_cancelled_id(stale, token_for), Cancellation::Stale);
        }
    }
}
