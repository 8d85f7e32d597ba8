#!/usr/bin/env python3
"""Prepares a conformance run and serves its stand-in model until it is stopped.

Serves, on STAND_IN_PORT, stand-ins for the providers the server calls while a request
waits: a Chat Completions endpoint (`/v1`, so agent queries get an answer) and Meta's
Graph API (`/graph`, so template listings get one); the machine has no internet, and a
provider's outage would be a 502, not a finding. Seeds the running server through its
API (a scenario with steps, agents, contacts, conversations, notes, contact variables,
AI settings pointing at the stand-in), writes the Chatvolt OpenAPI file narrowed to the
operations Stagecoach implements (with the corrections in FIXUPS) and the server's own
/openapi.json, touches OUT_DIR/ready, then keeps serving the stand-ins.

Usage: prepare.py BASE_URL TOKEN CHATVOLT_YAML OUT_DIR STAND_IN_PORT
"""
import json
import sys
import threading
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import yaml

METHODS = ("get", "post", "put", "patch", "delete")


def call(base, token, method, path, body=None):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        base + path,
        data=data,
        method=method,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request) as response:
        text = response.read().decode()
        return json.loads(text) if text else None


DECISION = {
    "reply": "Olá! Como posso ajudar?",
    "action": "none",
    "stepId": None,
    "contactFields": {"name": None, "email": None, "phone": None},
    "reason": "conformance run",
}


class StandIn(BaseHTTPRequestHandler):
    """The model answers every call with the same decision; the Graph API lists no
    templates, accepts new ones for review and takes every message."""

    def answer(self, payload):
        body = json.dumps(payload).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        self.answer({"data": []})

    def do_POST(self):
        self.rfile.read(int(self.headers.get("content-length") or 0))
        if self.path.startswith("/v1/"):
            self.answer({
                "id": "chatcmpl-conformance", "object": "chat.completion", "created": 0,
                "model": "stand-in",
                "choices": [{"index": 0, "finish_reason": "stop",
                             "message": {"role": "assistant", "content": json.dumps(DECISION)}}],
                "usage": {"prompt_tokens": 10, "completion_tokens": 10, "total_tokens": 20},
            })
        elif self.path.endswith("/message_templates"):
            self.answer({"id": "1", "status": "PENDING", "category": "UTILITY"})
        else:
            self.answer({"messaging_product": "whatsapp", "messages": [{"id": "wamid.stand-in"}]})

    def log_message(self, *args):
        pass


def seed(base, token, model_url):
    """A scenario with steps, agents, contacts, conversations, notes and variables."""
    call(base, token, "PUT", "/v1/ai/settings", {"baseUrl": model_url, "model": "stand-in"})
    agent = call(base, token, "POST", "/agents", {"name": "Conformance agent"})
    scenario = call(base, token, "POST", "/crm/scenario", {"name": "Conformance"})
    steps = [
        call(base, token, "POST", "/crm/step",
             {"scenarioId": scenario["id"], "name": name, "trigger": f"word{i}"})
        for i, name in enumerate(["New", "Qualified", "Won"])
    ]
    for i in range(5):
        inbound = call(base, token, "POST", "/v1/messages/inbound",
                       {"channel": "website", "from": f"visitor-conformance-{i}",
                        "text": f"hello {i}", "name": f"Contact {i}"})
        conversation = inbound["conversationId"]
        call(base, token, "POST", "/crm/step/conversation",
             {"conversationId": conversation, "stepId": steps[i % 3]["id"]})
        call(base, token, "POST", f"/conversations/{conversation}/notes",
             {"note": f"Note {i}", "notificationDateTime": "2026-01-01T00:00:00Z"})
        call(base, token, "POST", "/contacts/variables",
             {"id": conversation, "key": "plan", "value": "pro", "source": "human"})
    return agent, scenario, steps


# Fields Stagecoach's agents take `null` for (it clears them, or restores a default): a
# documented extension of Chatvolt's agent bodies, which type them as plain values.
AGENT_NULLABLE = ("name", "description", "handle", "modelName", "temperature",
                  "systemPrompt", "visibility", "iconUrl")


def fixups(chatvolt):
    """Corrections to Chatvolt's file, each with its reason; the run checks the rest as is."""
    # The board's answer is `oneOf` an array and two object shapes that overlap (any
    # object of counts matches both), so no object answer can ever satisfy it: `anyOf`.
    board = chatvolt["paths"]["/crm/scenario/{scenarioId}/conversation"]["get"]
    schema = board["responses"]["200"]["content"]["application/json"]["schema"]
    schema["anyOf"] = schema.pop("oneOf")
    # An agent query with `streaming: true` answers Server-Sent Events; the file types the
    # whole stream as one string, and schemathesis checks each event (an object) against
    # it, which no event can meet. The stream's schema goes; tests/it/ai.rs checks its events.
    query = chatvolt["paths"]["/agents/{id}/query"]["post"]["responses"]["200"]["content"]
    if "text/event-stream" in query:
        query["text/event-stream"].pop("schema", None)
    for path, method in (("/agents", "post"), ("/agents/{id}", "patch")):
        body = chatvolt["paths"][path][method]["requestBody"]["content"]["application/json"]
        for name, prop in body["schema"].get("properties", {}).items():
            if name in AGENT_NULLABLE:
                prop["nullable"] = True


# What Stagecoach answers a Chatvolt client besides success: 400 for input it cannot take,
# 401 for a missing or unknown token, 404 for an id it does not know.
CLIENT_ERRORS = {"400", "401", "404"}


def statuses_documented(chatvolt, ours):
    """The operations whose documented statuses name every kind of answer Stagecoach gives.

    Chatvolt's file is uneven here: some operations list only 200, some 403 but not 401
    for a missing token, some no 404 though their path holds an id. On those, an
    undocumented status says nothing about Stagecoach; on these it does. Left out too:
    the writes Stagecoach refuses by design with 405 `READ_ONLY` (conversation logs,
    which it writes itself), as its own document says.
    """
    read_only = {
        (path, method)
        for path, item in ours["paths"].items()
        for method, op in item.items()
        if method in METHODS and "405" in op.get("responses", {})
    }
    narrowed = {}
    for path, item in chatvolt["paths"].items():
        kept = {m: op for m, op in item.items()
                if m in METHODS and (path, m) not in read_only
                and CLIENT_ERRORS <= set(op.get("responses", {}))}
        if kept:
            shared = {k: v for k, v in item.items() if k not in METHODS}
            narrowed[path] = {**shared, **kept}
    return {**chatvolt, "paths": narrowed}


def implemented(stagecoach_spec):
    return {
        (path, method)
        for path, item in stagecoach_spec["paths"].items()
        for method in METHODS
        if method in item
    }


def main(base, token, chatvolt_yaml, out_dir, port):
    stand_in = ThreadingHTTPServer(("127.0.0.1", int(port)), StandIn)
    threading.Thread(target=stand_in.serve_forever, daemon=True).start()
    seed(base, token, f"http://127.0.0.1:{port}/v1")
    with urllib.request.urlopen(base + "/openapi.json") as response:
        ours = json.load(response)
    served = implemented(ours)
    chatvolt = yaml.safe_load(open(chatvolt_yaml))
    fixups(chatvolt)
    narrowed = {}
    for path, item in chatvolt["paths"].items():
        kept = {m: op for m, op in item.items() if m in METHODS and (path, m) in served}
        if kept:
            shared = {k: v for k, v in item.items() if k not in METHODS}
            narrowed[path] = {**shared, **kept}
    chatvolt["paths"] = narrowed
    chatvolt["servers"] = [{"url": base}]
    with open(f"{out_dir}/chatvolt.json", "w") as f:
        json.dump(chatvolt, f)
    with open(f"{out_dir}/stagecoach.json", "w") as f:
        json.dump(ours, f)
    with open(f"{out_dir}/chatvolt-statuses.json", "w") as f:
        json.dump(statuses_documented(chatvolt, ours), f)
    count = lambda spec: sum(1 for item in spec["paths"].values() for m in METHODS if m in item)
    print(f"Chatvolt operations Stagecoach implements: {count(chatvolt)}", flush=True)
    print(f"operations in Stagecoach's own document: {count(ours)}", flush=True)
    print(f"Chatvolt operations whose statuses are checked: {count(statuses_documented(chatvolt, ours))}",
          flush=True)
    open(f"{out_dir}/ready", "w").close()
    threading.Event().wait()


if __name__ == "__main__":
    main(*sys.argv[1:6])
