//! What the bridge needs of each line from the agent: is it a JSON-RPC 2.0 message, its method,
//! its id, its protocol era, and the exact bytes to pass on.
//!
//! The bridge only passes a request on, and the engine reads it whole anyway, so the usual line
//! is read without building it ([`shallow`]: the envelope's members as raw text, a `tools/call`'s
//! arguments skipped over, never turned into a tree). Whatever that reading is not sure of —
//! malformed or odd lines, an id the engine cannot carry, duplicate keys — goes through
//! [`full`], the whole message parsed and checked member by member, which answers every
//! malformed line with its JSON-RPC error. Both are compared on thousands of lines in the tests.

use serde::{Deserialize, Deserializer};
use serde_json::Value;
use serde_json::value::RawValue;

use super::error_line;
use crate::ids::{SwappedId, id_is_native, swap_request_id};

/// The `_meta` key in which a 2026-07-28 request names its protocol version.
const PROTOCOL_VERSION_META: &str = "io.modelcontextprotocol/protocolVersion";

/// A line from the agent, checked, and what the bridge does with it.
#[derive(Debug, PartialEq)]
pub(super) struct Inspected {
    /// The method; None for a response to one of the engine's requests.
    pub method: Option<String>,
    /// The id as the engine will see it (the token, when the agent's id was swapped).
    pub id: Option<Value>,
    /// A 2026-07-28 request, whose results carry `resultType`.
    pub modern: bool,
    /// How to give the agent back an id the engine cannot carry.
    pub swap: Option<Swap>,
    /// The line to forward, newline included.
    pub framed: Vec<u8>,
}

/// A request's id as the engine sees it, and how to give the agent its own id back.
#[derive(Debug, PartialEq)]
pub(super) struct Swap {
    /// The token, as JSON text (with its quotes), that stands for the id at the engine.
    pub token: String,
    /// The id exactly as the agent wrote it.
    pub raw: String,
}

impl Swap {
    /// The engine's reply line with the agent's own id in place of the token.
    pub fn restore(&self, line: &[u8]) -> Vec<u8> {
        crate::http::replace_bytes(line, self.token.as_bytes(), self.raw.as_bytes())
    }
}

/// Checks one line (trimmed, not empty); Err is the error reply to send the agent instead.
pub(super) fn inspect(text: &[u8]) -> Result<Inspected, String> {
    match shallow(text) {
        Some(inspected) => Ok(inspected),
        None => full(text),
    }
}

/// The `params` of a line, for the rare paths that need them built (the handshake to replay, an
/// answer made without the engine).
pub(super) fn params_of(text: &[u8]) -> Option<Value> {
    serde_json::from_slice::<Value>(text)
        .ok()?
        .get_mut("params")
        .map(Value::take)
}

/// A member that is present, `null` included (a plain `Option` would read `null` as absent).
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<&'de RawValue>, D::Error> {
    <&'de RawValue>::deserialize(d).map(Some)
}

/// The envelope's members, unread. Unknown members are skipped; a duplicate is an error (and
/// the line goes to [`full`], which keeps the last, as JSON parsers do).
#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(default, borrow, deserialize_with = "present")]
    jsonrpc: Option<&'a RawValue>,
    #[serde(default, borrow, deserialize_with = "present")]
    id: Option<&'a RawValue>,
    #[serde(default, borrow, deserialize_with = "present")]
    method: Option<&'a RawValue>,
    #[serde(default, borrow, deserialize_with = "present")]
    params: Option<&'a RawValue>,
    #[serde(default, borrow, deserialize_with = "present")]
    result: Option<&'a RawValue>,
    #[serde(default, borrow, deserialize_with = "present")]
    error: Option<&'a RawValue>,
}

/// The members of `params` the bridge checks.
#[derive(Deserialize)]
struct Params<'a> {
    #[serde(default, borrow, deserialize_with = "present")]
    name: Option<&'a RawValue>,
    #[serde(default, borrow, deserialize_with = "present")]
    arguments: Option<&'a RawValue>,
    #[serde(default, borrow, deserialize_with = "present", rename = "_meta")]
    meta: Option<&'a RawValue>,
}

/// The member of `params._meta` naming a 2026-07-28 request's version.
#[derive(Deserialize)]
struct Meta<'a> {
    #[serde(
        default,
        borrow,
        deserialize_with = "present",
        rename = "io.modelcontextprotocol/protocolVersion"
    )]
    version: Option<&'a RawValue>,
}

fn is_object(raw: &RawValue) -> bool {
    raw.get().starts_with('{')
}

/// The usual line, read without building it; None when not sure (then [`full`] decides).
fn shallow(text: &[u8]) -> Option<Inspected> {
    let envelope: Envelope<'_> = serde_json::from_slice(text).ok()?;
    if envelope.jsonrpc?.get() != "\"2.0\"" {
        return None;
    }
    let method = match envelope.method {
        Some(raw) => Some(serde_json::from_str::<String>(raw.get()).ok()?),
        None => None,
    };
    let id = match envelope.id {
        // A request's id must pass through the engine as written; a response's goes back to
        // the engine's own request, so any string or number.
        Some(raw) if method.is_some() && id_is_native(raw.get().trim()) => Some(raw),
        Some(raw)
            if method.is_none()
                && raw
                    .get()
                    .starts_with(|c: char| c == '"' || c == '-' || c.is_ascii_digit()) =>
        {
            Some(raw)
        }
        Some(_) => return None,
        None => None,
    };
    let id = match id {
        Some(raw) => Some(serde_json::from_str::<Value>(raw.get()).ok()?),
        None => None,
    };
    // A response to the engine: an id, and a result or an error.
    if method.is_none()
        && !(id.is_some() && (envelope.result.is_some() || envelope.error.is_some()))
    {
        return None;
    }
    // A response's other members are the engine's business.
    let params = match envelope.params.filter(|_| method.is_some()) {
        Some(raw) if is_object(raw) => Some(serde_json::from_str::<Params<'_>>(raw.get()).ok()?),
        Some(_) => return None,
        None => None,
    };
    if method.as_deref() == Some("tools/call") {
        let params = params.as_ref()?;
        if !params.name?.get().starts_with('"') {
            return None;
        }
        if params
            .arguments
            .is_some_and(|a| !is_object(a) && a.get() != "null")
        {
            return None;
        }
    }
    let modern = match method.as_deref() {
        None => false,
        Some("server/discover") => true,
        Some(_) => match params.and_then(|p| p.meta) {
            Some(meta) if is_object(meta) => serde_json::from_str::<Meta<'_>>(meta.get())
                .ok()?
                .version
                .and_then(|v| serde_json::from_str::<String>(v.get()).ok())
                .is_some_and(|v| is_modern_version(&v)),
            _ => false,
        },
    };
    let mut framed = Vec::with_capacity(text.len() + 1);
    framed.extend_from_slice(text);
    framed.push(b'\n');
    Some(Inspected {
        method,
        id,
        modern,
        swap: None,
        framed,
    })
}

fn is_modern_version(version: &str) -> bool {
    version >= rmcp::model::ProtocolVersion::V_2026_07_28.as_str()
}

/// Any line: parsed whole, checked member by member, an id the engine cannot carry swapped for
/// a token first (where it stands, before anything is parsed: serde_json cannot even hold some,
/// such as `1E400`), so every answer, errors included, goes back with the agent's own id.
fn full(text: &[u8]) -> Result<Inspected, String> {
    let swapped = swap_request_id(text);
    let (body, swap) = match swapped {
        Some(SwappedId {
            message,
            token,
            raw,
        }) => (message, Some(Swap { token, raw })),
        None => (text.to_vec(), None),
    };
    let restore = |reply: String| match &swap {
        Some(swap) => String::from_utf8_lossy(&swap.restore(reply.as_bytes())).into_owned(),
        None => reply,
    };
    let message = serde_json::from_slice::<Value>(&body).map_err(|e| {
        let id = match &swap {
            // The token stands for the id: the error goes back with the agent's own.
            Some(swap) => serde_json::from_str(&swap.token).unwrap_or(Value::Null),
            None => Value::Null,
        };
        restore(error_line(id, -32700, &format!("parse error: {e}")))
    })?;
    check_message(&message).map_err(restore)?;
    let method = message
        .get("method")
        .and_then(Value::as_str)
        .map(str::to_owned);
    let modern = method
        .as_deref()
        .is_some_and(|m| is_modern(m, message.get("params")));
    let mut framed = body;
    framed.push(b'\n');
    Ok(Inspected {
        id: message.get("id").cloned(),
        method,
        modern,
        swap,
        framed,
    })
}

/// Checks that a parsed line is a JSON-RPC 2.0 message; Err is the error reply to send instead.
pub(super) fn check_message(message: &Value) -> Result<(), String> {
    let Some(object) = message.as_object() else {
        return Err(error_line(
            Value::Null,
            -32600,
            "invalid request: not a JSON-RPC object (batches are not supported)",
        ));
    };
    let id = object.get("id");
    let id_ok = id.is_none_or(|id| id.is_string() || id.is_number());
    let reply_id = id.filter(|_| id_ok).cloned().unwrap_or(Value::Null);
    if object.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
        return Err(error_line(
            reply_id,
            -32600,
            "invalid request: `jsonrpc` must be \"2.0\"",
        ));
    }
    if !id_ok {
        return Err(error_line(
            Value::Null,
            -32600,
            "invalid request: `id` must be a string or a number",
        ));
    }
    match object.get("method") {
        Some(Value::String(method)) => check_params(method, object.get("params"))
            .map_err(|message| error_line(reply_id, -32602, &message)),
        Some(_) => Err(error_line(
            reply_id,
            -32600,
            "invalid request: `method` must be a string",
        )),
        None if id.is_some() && (object.contains_key("result") || object.contains_key("error")) => {
            Ok(())
        }
        None => Err(error_line(reply_id, -32600, "invalid request: no `method`")),
    }
}

/// Params the engine could not even parse would come back as an error without an id; answer
/// them here, with the id.
fn check_params(method: &str, params: Option<&Value>) -> Result<(), String> {
    match params {
        None | Some(Value::Object(_)) => {}
        Some(_) => return Err("invalid params: `params` must be an object".to_owned()),
    }
    if method == "tools/call" {
        let params = params.and_then(Value::as_object);
        if !params
            .and_then(|p| p.get("name"))
            .is_some_and(Value::is_string)
        {
            return Err("invalid params: tools/call needs a string `name`".to_owned());
        }
        if !params
            .and_then(|p| p.get("arguments"))
            .is_none_or(|a| a.is_object() || a.is_null())
        {
            return Err("invalid params: tools/call `arguments` must be an object".to_owned());
        }
    }
    Ok(())
}

/// Whether a request speaks the 2026-07-28 protocol (no handshake; every request names its
/// version in `_meta`), whose results must carry `resultType`.
pub(super) fn is_modern(method: &str, params: Option<&Value>) -> bool {
    method == "server/discover"
        || params
            .and_then(|p| p.get("_meta"))
            .and_then(|m| m.get(PROTOCOL_VERSION_META))
            .and_then(Value::as_str)
            .is_some_and(is_modern_version)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Lines built from every combination of usual, odd and hostile members.
    fn corpus() -> Vec<String> {
        let jsonrpc = [
            Some(r#""2.0""#),
            Some(r#""1.0""#),
            Some(r#""2\u002e0""#),
            Some("2"),
            None,
        ];
        let ids = [
            None,
            Some("1"),
            Some("-3"),
            Some(r#""a""#),
            Some(r#""\u0041""#),
            Some("1.5"),
            Some("1e3"),
            Some("9223372036854775808"),
            Some("null"),
            Some("{}"),
        ];
        let methods = [
            None,
            Some(r#""tools/call""#),
            Some(r#""tools/\u0063all""#),
            Some(r#""ping""#),
            Some(r#""initialize""#),
            Some(r#""server/discover""#),
            Some("42"),
            Some("null"),
        ];
        let params = [
            None,
            Some("null"),
            Some("[]"),
            Some("{}"),
            Some(r#"{"name":"fs__read","arguments":{"path":"/etc/hosts","n":[1,2,{"x":null}]}}"#),
            Some(r#"{"name":1}"#),
            Some(r#"{"name":"x","arguments":[]}"#),
            Some(r#"{"name":"x","arguments":null}"#),
            Some(r#"{"name":"x","name":7}"#),
            Some(
                r#"{"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28"},"name":"x"}"#,
            ),
            Some(r#"{"_meta":{"io.modelcontextprotocol/protocolVersion":"2025-11-25"}}"#),
            Some(r#"{"_meta":{"io.modelcontextprotocol/protocolVersion":5}}"#),
            Some(r#"{"_meta":[]}"#),
            Some(
                r#"{"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/protocolVersion":"2024-01-01"}}"#,
            ),
        ];
        let tails = [
            "",
            r#","result":{}"#,
            r#","error":{"code":1,"message":"m"}"#,
            r#","x":1"#,
            r#","id":2"#,
        ];
        let mut lines = Vec::new();
        for j in jsonrpc {
            for id in ids {
                for m in methods {
                    for p in params {
                        for tail in tails {
                            let mut members = Vec::new();
                            for (key, value) in
                                [("jsonrpc", j), ("id", id), ("method", m), ("params", p)]
                            {
                                if let Some(value) = value {
                                    members.push(format!("\"{key}\": {value}"));
                                }
                            }
                            lines.push(format!("{{ {}{tail} }}", members.join(",")));
                        }
                    }
                }
            }
        }
        lines.extend(
            [
                "[]",
                "7",
                "\"x\"",
                "null",
                "{",
                "{\"jsonrpc\":\"2.0\",\"method\":\"ping\"} x",
                "{\"jsonrpc\":\"2.0\",\"method\":\"p\u{7f}\"}",
            ]
            .map(str::to_owned),
        );
        lines
    }

    #[test]
    fn the_shallow_reading_agrees_with_the_full_one_wherever_it_answers() {
        // Written oddly on purpose: an escaped "2.0", duplicate keys (`id` twice at the end).
        let odd = [r#"\u002e"#, r#""name":7"#, r#""2024-01-01""#, r#","id":2 "#];
        let (mut shallow_answers, mut plain) = (0, 0);
        for line in corpus() {
            let text = line.trim().as_bytes();
            let full = full(text);
            let fast = shallow(text);
            if let Some(fast) = &fast {
                shallow_answers += 1;
                assert_eq!(full.as_ref(), Ok(fast), "{line}");
            }
            // Not a vacuous check: every plainly written line the bridge passes on as written
            // takes the shallow reading.
            if full.as_ref().is_ok_and(|f| f.swap.is_none())
                && !odd.iter().any(|o| line.contains(o))
            {
                plain += 1;
                assert!(fast.is_some(), "read whole: {line}");
            }
        }
        assert!(
            plain > 300 && shallow_answers >= plain,
            "{shallow_answers}, {plain}"
        );
    }

    #[test]
    fn usual_requests_and_responses_are_read_shallowly() {
        let call = br#"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"fs__read","arguments":{"path":"a"}}}"#;
        let inspected = shallow(call).expect("a plain tools/call");
        assert_eq!(inspected.method.as_deref(), Some("tools/call"));
        assert_eq!(inspected.id, Some(json!(7)));
        assert!(!inspected.modern);
        assert_eq!(inspected.framed, [call.as_slice(), b"\n"].concat());
        let modern = br#"{"jsonrpc":"2.0","id":"x","method":"tools/list","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28"}}}"#;
        assert!(shallow(modern).expect("a 2026-07-28 request").modern);
        let response = br#"{"jsonrpc":"2.0","id":3,"result":{"roots":[]}}"#;
        assert_eq!(shallow(response).expect("a response").method, None);
    }

    #[test]
    fn ids_the_engine_cannot_carry_are_swapped_and_restored() {
        let inspected = inspect(br#"{"jsonrpc":"2.0","id":1.5,"method":"ping"}"#).unwrap();
        let swap = inspected.swap.expect("1.5 is not an i64");
        assert_eq!(swap.raw, "1.5");
        let framed: Value = serde_json::from_slice(&inspected.framed).unwrap();
        assert_eq!(framed["id"].to_string(), swap.token);
        let reply = format!(r#"{{"jsonrpc":"2.0","id":{},"result":{{}}}}"#, swap.token);
        let restored: Value = serde_json::from_slice(&swap.restore(reply.as_bytes())).unwrap();
        assert_eq!(restored["id"], json!(1.5));
    }

    /// Ids serde_json cannot hold are swapped before anything is parsed, and even a refusal of
    /// the rest of the message goes back with the id as the agent wrote it.
    #[test]
    fn ids_no_parser_holds_still_come_back_as_written() {
        for raw in ["1E400", r#""\ud800""#, r#""\u0041""#] {
            let line = format!(r#"{{"jsonrpc":"2.0","id":{raw},"method":"ping"}}"#);
            let inspected = inspect(line.as_bytes()).unwrap();
            let swap = inspected.swap.expect("swapped");
            assert_eq!(swap.raw, raw);
            let reply = format!(r#"{{"jsonrpc":"2.0","id":{},"result":{{}}}}"#, swap.token);
            let restored = String::from_utf8(swap.restore(reply.as_bytes())).unwrap();
            assert_eq!(
                restored,
                format!(r#"{{"jsonrpc":"2.0","id":{raw},"result":{{}}}}"#)
            );

            let broken = format!(
                r#"{{"jsonrpc":"2.0","id":{raw},"method":"tools/call","params":{{"name":"x","arguments":{{"n":1E400}}}}}}"#
            );
            let refusal = inspect(broken.as_bytes()).unwrap_err();
            assert!(refusal.contains(&format!(r#""id":{raw},"#)), "{refusal}");
            assert!(refusal.contains("-32700"), "{refusal}");
            let invalid = format!(r#"{{"jsonrpc":"2.0","id":{raw},"method":"tools/call"}}"#);
            let refusal = inspect(invalid.as_bytes()).unwrap_err();
            assert!(refusal.contains(&format!(r#""id":{raw},"#)), "{refusal}");
        }
    }

    #[test]
    fn json_rpc_shape_is_checked() {
        let code = |v: Value| {
            check_message(&v).err().map(|line| {
                let reply: Value = serde_json::from_str(&line).unwrap();
                (
                    reply["error"]["code"].as_i64().unwrap(),
                    reply["id"].clone(),
                )
            })
        };
        assert_eq!(code(json!({"hello": "world"})), Some((-32600, Value::Null)));
        assert_eq!(code(json!([])), Some((-32600, Value::Null)));
        assert_eq!(
            code(json!({"jsonrpc": "2.0", "id": 7, "method": 42})),
            Some((-32600, json!(7)))
        );
        assert_eq!(
            code(json!({"jsonrpc": "2.0", "id": {"x": 1}, "method": "ping"})),
            Some((-32600, Value::Null))
        );
        assert_eq!(
            code(json!({"jsonrpc": "1.0", "id": 1, "method": "ping"})),
            Some((-32600, json!(1)))
        );
        assert_eq!(
            code(json!({"jsonrpc": "2.0", "id": 1})),
            Some((-32600, json!(1)))
        );
        assert_eq!(
            code(json!({"jsonrpc": "2.0", "id": 1, "method": "ping"})),
            None
        );
        assert_eq!(
            code(json!({"jsonrpc": "2.0", "method": "notifications/initialized"})),
            None
        );
        assert_eq!(
            code(json!({"jsonrpc": "2.0", "id": "a", "result": {}})),
            None
        );
    }

    #[test]
    fn params_are_built_only_when_asked() {
        let line = br#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25"}}"#;
        assert_eq!(
            params_of(line),
            Some(json!({"protocolVersion": "2025-11-25"}))
        );
        assert_eq!(params_of(br#"{"jsonrpc":"2.0","method":"ping"}"#), None);
    }
}
