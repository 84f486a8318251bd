//! JSON-RPC ids as the agent sent them.
//!
//! rmcp carries an id as a string or an `i64`; an agent may send any JSON value. Every transport
//! (the bridge, HTTP) swaps an id rmcp would change for a token of its own on the way in and puts
//! the agent's text back on the way out. This module owns the one rule that decides which ids
//! need that, so the transports cannot drift apart on it.

/// Whether rmcp carries this id text (the raw JSON of a well-formed message's `id`) unchanged: a
/// string, or an integer written exactly as rmcp writes it back. `-0`, `1.5`, `1e3`, `1.0` and
/// integers beyond `i64` are not: rmcp would answer `0`, or refuse the message.
pub fn id_is_native(raw: &str) -> bool {
    raw.starts_with('"') || raw.parse::<i64>().is_ok_and(|n| n.to_string() == raw)
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
        ] {
            assert!(!id_is_native(swapped), "{swapped}");
        }
    }

    /// Differential: for integers serde_json reads, native means rmcp's own id type writes back
    /// the very text.
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
}
