"""Scripted fake model servers for the real agent CLIs (no network, no model).

One HTTP server speaks the three wire protocols the agents use:

- Anthropic Messages (Claude Code): ``POST /v1/messages`` answered as SSE (message_start,
  content_block_start/delta/stop with ``input_json_delta``, message_delta, message_stop).
- OpenAI Responses (Codex CLI): ``POST /v1/responses`` answered as SSE (response.created,
  response.output_item.done, response.completed).
- Gemini (Gemini CLI): ``POST /v1beta/models/M:streamGenerateContent?alt=sse`` as SSE and
  ``:generateContent`` (the router's JSON request) as JSON.

A scenario is a list of steps; each main-loop request (one that offers tools) consumes the next
step: ``{"tool": NAME, "input": {...}}`` answers with one tool call, ``{"text": ...}`` ends the
turn. Every request body is appended to ``log`` (JSON lines) so a test can assert what the agent
sent back to the model, e.g. that a tool result carried the file's text or Cordon's reason.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


class Scenario:
    def __init__(self, steps: list[dict], log: Path):
        self.steps = list(steps)
        self.index = 0
        self.log = log
        self.lock = threading.Lock()

    def next_step(self) -> tuple[int, dict]:
        with self.lock:
            i = self.index
            self.index += 1
        if i < len(self.steps):
            return i, self.steps[i]
        return i, {"text": "done"}

    def record(self, path: str, body: object, step: int | None = None) -> None:
        """Appends one request; `step` is the scenario step it consumed (None: a side request)."""
        with self.lock, self.log.open("a") as f:
            f.write(json.dumps({"path": path, "step": step, "body": body}) + "\n")

    def requests(self) -> list[dict]:
        with self.lock:
            if not self.log.exists():
                return []
            return [json.loads(line) for line in self.log.read_text().splitlines() if line]


def _sse(handler: BaseHTTPRequestHandler, events: list[tuple[str | None, dict]]) -> None:
    handler.send_response(200)
    handler.send_header("content-type", "text/event-stream")
    handler.send_header("cache-control", "no-cache")
    handler.send_header("connection", "close")
    handler.end_headers()
    for name, data in events:
        chunk = ""
        if name:
            chunk += f"event: {name}\n"
        chunk += f"data: {json.dumps(data)}\n\n"
        handler.wfile.write(chunk.encode())
        handler.wfile.flush()
    handler.close_connection = True


def _json(handler: BaseHTTPRequestHandler, status: int, body: dict) -> None:
    data = json.dumps(body).encode()
    handler.send_response(status)
    handler.send_header("content-type", "application/json")
    handler.send_header("content-length", str(len(data)))
    handler.end_headers()
    handler.wfile.write(data)


def anthropic(handler, scenario: Scenario, body: dict) -> None:
    usage = {"input_tokens": 10, "output_tokens": 1}
    has_tools = bool(body.get("tools"))
    if has_tools:
        i, step = scenario.next_step()
        scenario.record(handler.path, body, i)
    else:
        # Side requests (titles, summaries): a plain answer that consumes no step.
        i, step = -1, {"text": "ok"}
        scenario.record(handler.path, body)
    start = {
        "type": "message_start",
        "message": {
            "id": f"msg_{i}",
            "type": "message",
            "role": "assistant",
            "model": body.get("model", "claude"),
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": usage,
        },
    }
    events: list[tuple[str | None, dict]] = [("message_start", start)]
    if "tool" in step:
        block = {"type": "tool_use", "id": f"toolu_{i:04d}", "name": step["tool"], "input": {}}
        events += [
            ("content_block_start", {"type": "content_block_start", "index": 0, "content_block": block}),
            (
                "content_block_delta",
                {
                    "type": "content_block_delta",
                    "index": 0,
                    "delta": {"type": "input_json_delta", "partial_json": json.dumps(step["input"])},
                },
            ),
            ("content_block_stop", {"type": "content_block_stop", "index": 0}),
        ]
        stop = "tool_use"
    else:
        events += [
            (
                "content_block_start",
                {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
            ),
            (
                "content_block_delta",
                {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": step["text"]}},
            ),
            ("content_block_stop", {"type": "content_block_stop", "index": 0}),
        ]
        stop = "end_turn"
    events += [
        (
            "message_delta",
            {"type": "message_delta", "delta": {"stop_reason": stop, "stop_sequence": None}, "usage": {"output_tokens": 5}},
        ),
        ("message_stop", {"type": "message_stop"}),
    ]
    if body.get("stream"):
        _sse(handler, events)
    else:
        content = [block] if "tool" in step else [{"type": "text", "text": step["text"]}]
        if "tool" in step:
            content = [{"type": "tool_use", "id": f"toolu_{i:04d}", "name": step["tool"], "input": step["input"]}]
        msg = dict(start["message"], content=content, stop_reason=stop)
        _json(handler, 200, msg)


def openai_responses(handler, scenario: Scenario, body: dict) -> None:
    i, step = scenario.next_step()
    scenario.record(handler.path, body, i)
    rid = f"resp_{i}"
    response = {"id": rid, "object": "response", "status": "in_progress", "output": []}
    if "tool" in step and step.get("freeform"):
        # A freeform (custom) tool such as Codex's apply_patch: its input is raw text.
        item = {"type": "custom_tool_call", "id": f"ctc_{i}", "call_id": f"call_{i:04d}", "name": step["tool"], "input": step["input"]}
    elif "tool" in step:
        item = {
            "type": "function_call",
            "id": f"fc_{i}",
            "call_id": f"call_{i:04d}",
            "name": step["tool"],
            "arguments": json.dumps(step["input"]),
        }
        if step.get("namespace"):
            item["namespace"] = step["namespace"]
    else:
        item = {
            "type": "message",
            "id": f"msg_{i}",
            "role": "assistant",
            "status": "completed",
            "content": [{"type": "output_text", "text": step["text"], "annotations": []}],
        }
    done = dict(response, status="completed", output=[item], usage={
        "input_tokens": 10,
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": 5,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": 15,
    })
    _sse(
        handler,
        [
            ("response.created", {"type": "response.created", "response": response}),
            ("response.output_item.done", {"type": "response.output_item.done", "output_index": 0, "item": item}),
            ("response.completed", {"type": "response.completed", "response": done}),
        ],
    )


def gemini(handler, scenario: Scenario, body: dict, stream: bool) -> None:
    usage = {"promptTokenCount": 10, "candidatesTokenCount": 5, "totalTokenCount": 15}
    config = body.get("generationConfig") or {}
    if not stream or config.get("responseMimeType") == "application/json":
        # The router (and other JSON side requests): choose the model, consume no step.
        scenario.record(handler.path, body)
        text = json.dumps({"reasoning": "scripted", "model_choice": "flash"})
        reply = {"candidates": [{"content": {"role": "model", "parts": [{"text": text}]}, "finishReason": "STOP", "index": 0}], "usageMetadata": usage}
        if stream:
            _sse(handler, [(None, reply)])
        else:
            _json(handler, 200, reply)
        return
    i, step = scenario.next_step()
    scenario.record(handler.path, body, i)
    if "tool" in step:
        part = {"functionCall": {"name": step["tool"], "args": step["input"]}}
    else:
        part = {"text": step["text"]}
    reply = {"candidates": [{"content": {"role": "model", "parts": [part]}, "finishReason": "STOP", "index": 0}], "usageMetadata": usage}
    _sse(handler, [(None, reply)])


def serve(steps: list[dict], log: Path) -> tuple[ThreadingHTTPServer, Scenario]:
    scenario = Scenario(steps, log)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args) -> None:  # quiet
            pass

        def do_GET(self) -> None:
            scenario.record(self.path, None)
            _json(self, 404, {"error": "not found"})

        def do_HEAD(self) -> None:
            self.send_response(200)
            self.send_header("content-length", "0")
            self.end_headers()

        def do_POST(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            raw = self.rfile.read(length) if length else b""
            try:
                body = json.loads(raw or b"{}")
            except ValueError:
                body = {"raw": raw.decode(errors="replace")}
            path = self.path.split("?")[0]
            if not (path.endswith("/messages") or path.endswith("/responses") or "GenerateContent" in path):
                scenario.record(self.path, body)
            if path.endswith("/messages/count_tokens"):
                _json(self, 200, {"input_tokens": 10})
            elif path.endswith("/messages"):
                anthropic(self, scenario, body)
            elif path.endswith("/responses"):
                openai_responses(self, scenario, body)
            elif ":streamGenerateContent" in path:
                gemini(self, scenario, body, True)
            elif ":generateContent" in path:
                gemini(self, scenario, body, False)
            elif ":countTokens" in path:
                _json(self, 200, {"totalTokens": 10})
            else:
                _json(self, 404, {"error": f"fake model: no route {path}"})

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, scenario
