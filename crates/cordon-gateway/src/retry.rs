//! What a 2026-07-28 multi-round-trip retry carries back to the upstream.
//!
//! An upstream that needs the client's input answers `tools/call`, `resources/read` or
//! `prompts/get` with an `InputRequiredResult`; the client retries the same request carrying
//! its answers (`inputResponses`) and the upstream's opaque `requestState`. The gate judges a
//! retry like any call (by its tool and arguments) and must hand both fields to the upstream
//! exactly as received: rebuilt from the name and arguments alone, the retry would be asked the
//! same questions forever. Both come from the agent's side, so the exfiltration check reads
//! them like arguments (an agent could otherwise smuggle a secret out in an "answer").

use rmcp::model::{
    CallToolRequestParams, GetPromptRequestParams, InputResponses, ReadResourceRequestParams,
};
use serde_json::{Value, json};

/// The retry fields of one agent request; empty on a first round.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Retry {
    /// The client's answers to the upstream's input requests, by the upstream's keys.
    pub input_responses: Option<InputResponses>,
    /// The upstream's state, echoed by the client (opaque to Cordon; client-controlled).
    pub request_state: Option<String>,
}

impl Retry {
    /// The retry fields of an agent's `tools/call`.
    pub fn of_call(params: &CallToolRequestParams) -> Retry {
        Retry {
            input_responses: params.input_responses.clone(),
            request_state: params.request_state.clone(),
        }
    }

    /// The retry fields of an agent's `resources/read`.
    pub fn of_read(params: &ReadResourceRequestParams) -> Retry {
        Retry {
            input_responses: params.input_responses.clone(),
            request_state: params.request_state.clone(),
        }
    }

    /// The retry fields of an agent's `prompts/get`.
    pub fn of_prompt(params: &GetPromptRequestParams) -> Retry {
        Retry {
            input_responses: params.input_responses.clone(),
            request_state: params.request_state.clone(),
        }
    }

    /// Everything the retry carries besides the arguments, as the exfiltration check reads it;
    /// `None` on a first round.
    pub fn carried(&self) -> Option<Value> {
        if self.input_responses.is_none() && self.request_state.is_none() {
            return None;
        }
        Some(json!({
            "inputResponses": self.input_responses,
            "requestState": self.request_state,
        }))
    }

    /// The upstream's `tools/call`, carrying the retry.
    pub fn onto_call(self, mut params: CallToolRequestParams) -> CallToolRequestParams {
        params.input_responses = self.input_responses;
        params.request_state = self.request_state;
        params
    }

    /// The upstream's `resources/read`, carrying the retry.
    pub fn onto_read(self, mut params: ReadResourceRequestParams) -> ReadResourceRequestParams {
        params.input_responses = self.input_responses;
        params.request_state = self.request_state;
        params
    }

    /// The upstream's `prompts/get`, carrying the retry.
    pub fn onto_prompt(self, mut params: GetPromptRequestParams) -> GetPromptRequestParams {
        params.input_responses = self.input_responses;
        params.request_state = self.request_state;
        params
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answered() -> Retry {
        let mut answers = InputResponses::new();
        answers.insert(
            "answer".into(),
            json!({"action": "accept", "content": {"ok": true}}),
        );
        Retry {
            input_responses: Some(answers),
            request_state: Some("sealed-state".into()),
        }
    }

    #[test]
    fn a_first_round_carries_nothing() {
        let first = CallToolRequestParams::new("confirm");
        let retry = Retry::of_call(&first);
        assert_eq!(retry, Retry::default());
        assert_eq!(retry.carried(), None);
        assert_eq!(
            retry
                .onto_call(CallToolRequestParams::new("x"))
                .input_responses,
            None
        );
    }

    #[test]
    fn a_retry_reaches_the_upstream_exactly_as_received_under_the_upstreams_name() {
        let mut agent = CallToolRequestParams::new("era__confirm");
        let expected = answered();
        agent.input_responses = expected.input_responses.clone();
        agent.request_state = expected.request_state.clone();
        let upstream = Retry::of_call(&agent).onto_call(CallToolRequestParams::new("confirm"));
        assert_eq!(upstream.name, "confirm");
        assert_eq!(upstream.input_responses, expected.input_responses);
        assert_eq!(upstream.request_state, expected.request_state);

        let mut read = ReadResourceRequestParams::new("file:///a");
        read.request_state = Some("s".into());
        let onto = Retry::of_read(&read).onto_read(ReadResourceRequestParams::new("file:///a"));
        assert_eq!(onto.request_state.as_deref(), Some("s"));

        let mut prompt = GetPromptRequestParams::new("era__p");
        prompt.input_responses = expected.input_responses.clone();
        let onto = Retry::of_prompt(&prompt).onto_prompt(GetPromptRequestParams::new("p"));
        assert_eq!(onto.input_responses, expected.input_responses);
    }

    #[test]
    fn what_a_retry_carries_is_readable_for_the_exfiltration_check() {
        let carried = answered().carried().expect("a retry carries something");
        assert_eq!(
            carried["inputResponses"]["answer"]["content"]["ok"],
            json!(true)
        );
        assert_eq!(carried["requestState"], json!("sealed-state"));
        let state_only = Retry {
            input_responses: None,
            request_state: Some("s".into()),
        };
        assert_eq!(
            state_only.carried().expect("state")["requestState"],
            json!("s")
        );
    }
}
