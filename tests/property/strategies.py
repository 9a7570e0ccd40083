"""Strategies shared by the property tests: JSON values and mutations of real payloads."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from hypothesis import strategies as st

WEBHOOKS = Path(__file__).parents[1] / "data" / "webhooks"

# Keys the parsers look for, so that generated objects reach past the first check.
KEYS = ("deployment", "deployment_status", "workflow_run", "repository", "sender", "id",
        "environment", "state", "sha", "ref", "creator", "login", "payload", "created_at",
        "object_kind", "deployment_id", "status", "project", "user", "commit_url",
        "status_changed_at", "name", "build", "number", "phase", "parameters", "scm",
        "culprits", "timestamp", "ENV", "webhookEvent", "issue", "key", "fields",
        "changelog", "items", "field", "fieldId", "toString", "statusCategory", "action",
        "conclusion", "path", "run_attempt", "triggering_actor", "actor", "head_sha",
        "emailAddress", "displayName", "full_name", "html_url", "username", "email")
VALUES = ("deployment", "production", "qa", "success", "failed", "STARTED", "COMPLETED",
          "FINALIZED", "SUCCESS", "completed", "jira:issue_updated", "jira:issue_deleted",
          "status", "OPS-1", "Done", "done", "2019-05-15T15:20:53Z",
          "2021-04-28 21:50:00 +0200", "9999-12-31T23:59:59-01:00", "deploy-qa",
          ".github/workflows/test.yml")

scalars = st.one_of(
    st.none(), st.booleans(),
    st.integers(),  # JSON numbers of any size json.loads reads (<= 4300 digits)
    st.floats(),  # NaN and Infinity included: Python's json reads and writes them
    st.sampled_from([10**20, -(10**20), 1e300, 2**63, 1764237600000]),
    st.text(max_size=20), st.sampled_from(VALUES),
)
keys = st.one_of(st.sampled_from(KEYS), st.text(max_size=8))
json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4),
                            st.dictionaries(keys, inner, max_size=6)),
    max_leaves=30,
)
json_objects = st.dictionaries(keys, json_values, max_size=8)


def load(name: str) -> dict[str, Any]:
    payload: dict[str, Any] = json.loads((WEBHOOKS / name).read_text())
    return payload


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path to a value inside ``value`` (keys of objects, indexes of arrays)."""
    found = []
    items = (value.items() if isinstance(value, dict)
             else enumerate(value) if isinstance(value, list) else ())
    for key, child in items:
        found.append((*prefix, key))
        found.extend(_paths(child, (*prefix, key)))
    return found


@st.composite
def mutated(draw: st.DrawFn, payload: dict[str, Any]) -> dict[str, Any]:
    """``payload`` with one to three changes: a key dropped, or a value replaced by a value of
    another type (or any JSON value)."""
    result = copy.deepcopy(payload)
    for _ in range(draw(st.integers(1, 3))):
        paths = _paths(result)
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent = result
        for step in path[:-1]:
            parent = parent[step]
        if draw(st.booleans()):
            del parent[path[-1]]
        else:
            parent[path[-1]] = draw(st.one_of(
                st.sampled_from([None, True, 0, -1, 1.5, "", "x", [], {}, [1], {"a": 1}]),
                json_values))
    return result
