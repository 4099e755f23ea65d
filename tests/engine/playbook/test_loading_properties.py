"""Loading a playbook is total: whatever a file holds, validation either gives a plan or an
InvalidInput naming file and line (exit 2), never another exception (a traceback)."""

from __future__ import annotations

import json
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.core.planning import plan_run
from engine.errors import InvalidInput
from inventory import Inventory

KEYS = st.sampled_from(
    [
        "name", "hosts", "vars", "checks", "defaults", "remediate", "depends_on", "when", "loop",
        "loop_var", "command", "cmd", "http", "url", "tcp", "host", "port", "timeout", "retries",
        "backoff", "initial", "verify", "within", "destructive", "ignore_errors", "wait", "sleep",
        "severity", "notify", "x",
    ]
)
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**6), max_value=10**6),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from(["1s", "0.5m", "true", "{{ x }}", "{{ undefined }}", "{% for %}", "-1", ""]),
    st.text(max_size=12),
)
DOCUMENTS = st.recursive(
    SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(KEYS, inner, max_size=5)),
    max_leaves=25,
)


def _plan(text: str) -> None:
    with TemporaryDirectory() as folder:
        file = Path(folder) / "p.yml"
        file.write_text(text, encoding="utf-8", errors="surrogatepass")
        try:
            plan_run(file, Inventory.localhost())
        except InvalidInput as problem:
            assert str(problem).strip(), "an invalid playbook says why"


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(KEYS, DOCUMENTS, max_size=6))
def test_any_document_plans_or_is_invalid_input(document: dict[str, Any]) -> None:
    _plan(json.dumps(document))  # JSON is YAML


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.fixed_dictionaries(
        {"name": st.just("p"), "checks": st.dictionaries(st.sampled_from(["a", "b", "c"]), DOCUMENTS, max_size=3)}
    )
)
def test_any_checks_mapping_plans_or_is_invalid_input(document: dict[str, Any]) -> None:
    _plan(json.dumps(document))


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=200))
def test_any_text_plans_or_is_invalid_input(text: str) -> None:
    _plan(text)
