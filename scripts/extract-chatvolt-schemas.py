#!/usr/bin/env python3
"""Extracts from Chatvolt's OpenAPI file the response schemas of the endpoints Stagecoach
serves, so tests can check our answers against Chatvolt's own contract.

Usage: scripts/extract-chatvolt-schemas.py contracts/chatvolt-openapi.yaml \
           > crates/stagecoach/tests/fixtures/chatvolt-schemas.json
"""
import json
import sys

import yaml

ENDPOINTS = [
    ("get", "/crm/scenario", "200"),
    ("post", "/crm/scenario", "201"),
    ("put", "/crm/scenario", "200"),
    ("delete", "/crm/scenario", "200"),
    ("get", "/crm/step", "200"),
    ("post", "/crm/step", "201"),
    ("put", "/crm/step", "200"),
    ("delete", "/crm/step", "200"),
    ("post", "/crm/step/conversation", "200"),
    ("post", "/crm/step/move", "200"),
    ("get", "/crm/scenario/{scenarioId}/conversation", "200"),
    ("get", "/crm/conversationLog", "200"),
    ("get", "/crm/conversationLog/{logId}", "200"),
    ("get", "/conversation", "200"),
    ("get", "/conversation/{conversationId}", "200"),
    ("delete", "/conversation/{conversationId}", "200"),
    ("get", "/conversation/{conversationId}/messages/{count}", "200"),
    ("post", "/conversations/{conversationId}/message-register", "200"),
    ("post", "/conversations/{conversationId}/set-status", "200"),
    ("post", "/conversations/{conversationId}/set-priority", "200"),
    ("post", "/conversations/{conversationId}/set-ai-enabled", "200"),
    ("post", "/conversations/{conversationId}/assign", "200"),
    ("post", "/conversations/{conversationId}/unassign", "200"),
    ("get", "/contacts", "200"),
    ("post", "/contacts", "200"),
    ("delete", "/contacts/{id}", "200"),
    ("post", "/agents", "200"),
    ("get", "/agents/{id}", "200"),
    ("patch", "/agents/{id}", "200"),
    ("delete", "/agents/{id}", "200"),
    ("post", "/agents/{id}/query", "200"),
    ("get", "/whatsapp/templates", "200"),
    ("get", "/conversations/{conversationId}/notes", "200"),
    ("post", "/conversations/{conversationId}/notes", "201"),
    ("put", "/conversations/{conversationId}/notes/{noteId}", "200"),
    ("get", "/contacts/variables", "200"),
    ("post", "/contacts/variables", "200"),
    ("delete", "/contacts/variables", "200"),
]


def main(path):
    spec = yaml.safe_load(open(path))
    needed, responses = set(), {}

    def collect(node):
        if isinstance(node, dict):
            ref = node.get("$ref")
            if ref and ref.startswith("#/components/schemas/"):
                name = ref.rsplit("/", 1)[1]
                if name not in needed:
                    needed.add(name)
                    collect(spec["components"]["schemas"][name])
            for value in node.values():
                collect(value)
        elif isinstance(node, list):
            for value in node:
                collect(value)

    for method, route, status in ENDPOINTS:
        schema = spec["paths"][route][method]["responses"][status]["content"]["application/json"]["schema"]
        responses[f"{method.upper()} {route} {status}"] = schema
        collect(schema)
    out = {
        "source": "chatvolt-openapi.yaml (shared/reference), extracted by scripts/extract-chatvolt-schemas.py",
        "responses": responses,
        "schemas": {name: spec["components"]["schemas"][name] for name in sorted(needed)},
    }
    json.dump(out, sys.stdout, indent=1, sort_keys=True)
    print()


if __name__ == "__main__":
    main(sys.argv[1])
