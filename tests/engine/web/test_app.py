"""The status page, its API and its actions, served for real on a loopback port over a real
SQLite state store (the daemon is a stand-in recording the runs asked for)."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from engine.core.graph import NodeKey
from engine.unattended.state import StateStore, open_store
from engine.unattended.state.base import VersionRecord, WorkerRecord
from engine.web import status as status_module
from engine.web.app import NEXT_TICK
from tests.support.clock import FakeClock
from tests.support.playbooks import plan
from tests.support.unattended import run_once
from tests.support.web import HOOK_TOKEN, TOKEN, FakeDaemon, http, served

BOOK = """
name: shop
vars:
  db_password: s3cr3t-value-xyz
checks:
  db: {command: {cmd: "true"}}
  api:
    depends_on: [db]
    command: {cmd: "false"}
    remediate:
      - name: "log in with {{ db_password }}"
        command: {cmd: "false"}
  web:
    depends_on: [api]
    command: {cmd: "true"}
    alerts:
      - match_re: {alertname: "Web.*"}
alerts:
  - match: {alertname: ServiceDown, service: api}
    nodes: [api]
"""
API = NodeKey("localhost", "api")


@pytest.fixture
def state(tmp_path: Path) -> str:
    return str(tmp_path / "state.db")


@pytest.fixture
def store(state: str) -> StateStore:
    return open_store(state)


@pytest.fixture
def daemon(tmp_path: Path, store: StateStore) -> FakeDaemon:
    """A daemon whose first run found api failing (db healthy, web blocked)."""
    run_once(tmp_path, BOOK, store, clock_now())
    return FakeDaemon(plan(tmp_path, BOOK), tmp_path / "incidents")


def clock_now() -> FakeClock:
    """A fake clock that starts now: the page reads the real time, and the backoff and the
    limit's window are measured against it."""
    clock = FakeClock()
    clock._start = datetime.now(UTC)
    return clock


def svg_node(page: str, node: str) -> str:
    match = re.search(rf'<g class="node" id="node-localhost:{node}"[^>]*>.*?</g>', page, re.S)
    assert match, f"{node} is not drawn"
    return match.group(0)


def signed_in(base: str) -> str:
    """A session cookie from /login with the operator's token."""
    answer = http(f"{base}/login", {"token": TOKEN})
    assert answer.status == 303
    return answer.headers["set-cookie"].split(";")[0]


def csrf_of(base: str, cookie: str) -> str:
    page = http(f"{base}/nodes/localhost/api", headers={"Cookie": cookie}).body
    match = re.search(r'name="csrf" value="([0-9a-f]+)"', page)
    assert match
    return match.group(1)


def test_the_graph_colours_each_node_by_its_last_outcome(daemon: FakeDaemon, state: str) -> None:
    with served(daemon, state) as base:
        page = http(base + "/").body
    assert 'data-outcome="healthy"' in svg_node(page, "db") and 'fill="#2e7d32"' in svg_node(page, "db")
    assert 'data-outcome="failed"' in svg_node(page, "api") and 'fill="#c62828"' in svg_node(page, "api")
    assert 'data-outcome="blocked"' in svg_node(page, "web")


def test_api_status_gives_outcome_reason_attempts_against_the_limit_and_what_holds_a_node_back(
    daemon: FakeDaemon, state: str
) -> None:
    with served(daemon, state) as base:
        nodes = {n["node"]: n for n in http(base + "/api/status").json()["nodes"]}
    assert nodes["api"]["outcome"] == "failed"
    assert "still unhealthy" in nodes["api"]["reason"]
    assert (nodes["api"]["attempts"], nodes["api"]["limit"]) == (1, 3)
    assert nodes["api"]["hold"] == "backoff"
    assert nodes["db"]["hold"] is None
    assert nodes["web"]["depends_on"] == ["localhost:api"]


def test_a_paused_node_is_marked_paused(daemon: FakeDaemon, state: str, store: StateStore) -> None:
    store.set_pause("localhost", "db", None, "disk swap", datetime.now(UTC), "alice")
    with served(daemon, state) as base:
        nodes = {n["node"]: n for n in http(base + "/api/status").json()["nodes"]}
        page = http(base + "/").body
    assert nodes["db"]["hold"] == "paused"
    assert "disk swap" in nodes["db"]["hold_reason"]
    assert 'data-hold="paused"' in svg_node(page, "db")


def rows_of(page: str) -> list[str]:
    """The nodes of the page's node table, in its order."""
    table = page[page.index('<table id="nodes">') :]
    return re.findall(r'<tr data-node="([^"]+)">', table[: table.index("</table>")])


def test_the_front_page_lists_the_nodes_that_need_a_look_and_counts_the_others(
    daemon: FakeDaemon, state: str
) -> None:
    with served(daemon, state) as base:
        page = http(base + "/").body
    assert rows_of(page) == ["api", "web"]  # db is healthy: counted, not listed
    assert "1 healthy" in page and "2 need a look" in page
    assert 'href="/nodes"' in page


def test_every_node_is_listed_a_page_at_a_time(
    daemon: FakeDaemon, state: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(status_module, "NODES_PER_PAGE", 2)
    with served(daemon, state) as base:
        first, second = http(base + "/nodes").body, http(base + "/nodes?page=2").body
        problems = http(base + "/nodes?problems=1").body
        bad = http(base + "/nodes?page=two")
    assert (rows_of(first), rows_of(second)) == (["db", "api"], ["web"])
    assert 'href="/nodes?page=2"' in first and 'href="/nodes?page=1"' in second
    assert rows_of(problems) == ["api", "web"]
    assert bad.status == 400


def test_a_write_to_the_store_shows_on_the_next_request(daemon: FakeDaemon, state: str) -> None:
    with served(daemon, state) as base:
        before = {n["node"]: n["outcome"] for n in http(base + "/api/status").json()["nodes"]}
        other = open_store(state)  # another connection, as the daemon's runs write
        other.record_outcome("r2", "localhost", "api", "remediated", "restarted", {}, "P3", datetime.now(UTC))
        other.close()
        after = {n["node"]: n["outcome"] for n in http(base + "/api/status").json()["nodes"]}
        page = http(base + "/").body
    assert (before["api"], after["api"]) == ("failed", "remediated")
    assert 'data-outcome="remediated"' in svg_node(page, "api")


def test_a_pause_from_the_page_shows_on_the_next_request(daemon: FakeDaemon, state: str) -> None:
    with served(daemon, state) as base:
        assert http(base + "/api/status").json()["nodes"][0]["hold"] is None
        answer = http(
            f"{base}/actions/pause", {"host": "localhost", "node": "db"}, {"Authorization": f"Bearer {TOKEN}"}
        )
        assert answer.status == 200
        nodes = {n["node"]: n for n in http(base + "/api/status").json()["nodes"]}
    assert nodes["db"]["hold"] == "paused"


def test_the_runs_are_listed_newest_first_with_what_started_them(
    tmp_path: Path, daemon: FakeDaemon, state: str, store: StateStore
) -> None:
    with served(daemon, state) as base:
        [run] = http(base + "/api/runs").json()["runs"]
        page = http(base + "/").body
    assert run["trigger"] == "timer"
    assert run["counts"] == {"healthy": 1, "failed": 1, "blocked": 1}
    assert '<tr data-trigger="timer">' in page


def test_a_node_page_shows_its_history_rungs_evidence_and_recorded_versions(
    tmp_path: Path, daemon: FakeDaemon, state: str, store: StateStore
) -> None:
    now = datetime.now(UTC)
    store.record_version(
        VersionRecord(
            "localhost",
            "shop",
            "api",
            "shop-api-1",
            "sha256:abc",
            "shop/api:1.2",
            "",
            "h1",
            "",
            "api",
            now,
            now,
        )
    )
    (tmp_path / "incidents").mkdir()
    (tmp_path / "incidents" / "run1-api-shop-api-1-20261201T000000Z.log").write_text("boom")
    with served(daemon, state) as base:
        detail = http(base + "/api/nodes/localhost/api").json()
        page = http(base + "/nodes/localhost/api").body
    kinds = [(e["kind"], e["outcome"]) for e in detail["history"]]
    assert kinds == [("node", "failed"), ("action", "failed")]  # newest first: the outcome, then its rung
    assert detail["incidents"] == ["run1-api-shop-api-1-20261201T000000Z.log"]
    assert [v["image"] for v in detail["versions"]] == ["shop/api:1.2"]
    assert "shop/api:1.2" in page and "run1-api-shop-api-1" in page


def test_nothing_secret_is_rendered(daemon: FakeDaemon, state: str) -> None:
    with served(daemon, state) as base:
        shown = [http(base + path).body for path in ("/", "/nodes/localhost/api", "/api/nodes/localhost/api")]
    assert all("s3cr3t-value-xyz" not in text for text in shown)
    assert "log in with ***" in shown[1]


def test_text_from_the_store_is_escaped_not_interpreted(
    tmp_path: Path, daemon: FakeDaemon, state: str, store: StateStore
) -> None:
    store.set_pause("localhost", "db", None, "<script>alert(1)</script>", datetime.now(UTC), "x")
    with served(daemon, state) as base:
        page = http(base + "/").body
    assert "<script>alert(1)" not in page
    assert "&lt;script&gt;alert(1)" in page


def test_an_unknown_node_is_not_found(daemon: FakeDaemon, state: str) -> None:
    with served(daemon, state) as base:
        assert http(base + "/nodes/localhost/nowhere").status == 404
        assert http(base + "/api/nodes/localhost/nowhere").status == 404


def test_with_the_state_store_unreachable_the_page_is_an_error_page(tmp_path: Path) -> None:
    daemon = FakeDaemon(plan(tmp_path, BOOK), tmp_path / "incidents")
    with served(daemon, "/dev/null/state.db") as base:
        page, api = http(base + "/"), http(base + "/api/status")
    assert page.status == 503 and "State store unreachable" in page.body
    assert api.status == 503 and "unreachable" in api.json()["error"]


def test_an_action_without_the_token_is_refused_and_changes_nothing(
    daemon: FakeDaemon, state: str, store: StateStore
) -> None:
    with served(daemon, state) as base:
        anonymous = http(f"{base}/actions/pause", {"host": "localhost", "node": "api"})
        wrong = http(
            f"{base}/actions/pause",
            {"host": "localhost", "node": "api"},
            {"Authorization": "Bearer not-the-token-at-all"},
        )
    assert (anonymous.status, wrong.status) == (403, 403)
    assert store.pauses(datetime.now(UTC)) == []


def test_a_signed_in_action_without_its_csrf_token_is_refused(
    daemon: FakeDaemon, state: str, store: StateStore
) -> None:
    with served(daemon, state) as base:
        cookie = signed_in(base)
        forged = http(
            f"{base}/actions/pause",
            {"host": "localhost", "node": "api", "csrf": "0" * 64},
            {"Cookie": cookie},
        )
    assert forged.status == 403
    assert store.pauses(datetime.now(UTC)) == []


def test_a_wrong_token_does_not_sign_in(daemon: FakeDaemon, state: str) -> None:
    with served(daemon, state) as base:
        answer = http(f"{base}/login", {"token": "guess-guess-guess-guess"})
    assert answer.status == 403 and "set-cookie" not in {k.lower() for k in answer.headers}


def test_signed_in_pause_resume_and_reset_act_on_the_state_store(
    daemon: FakeDaemon, state: str, store: StateStore
) -> None:
    with served(daemon, state) as base:
        cookie = signed_in(base)
        form = {"host": "localhost", "node": "api", "csrf": csrf_of(base, cookie)}
        paused = http(f"{base}/actions/pause", form, {"Cookie": cookie})
        assert paused.status == 303 and paused.headers["location"] == "/nodes/localhost/api?done=paused"
        [pause] = store.pauses(datetime.now(UTC))
        assert (pause.host, pause.node) == ("localhost", "api")
        assert http(f"{base}/actions/resume", form, {"Cookie": cookie}).status == 303
        assert store.pauses(datetime.now(UTC)) == []
        assert http(f"{base}/actions/reset", form, {"Cookie": cookie}).status == 303
    assert store.node_state("localhost", "api").reset_at is not None


def test_run_now_asks_the_daemon_for_a_run_of_the_node(daemon: FakeDaemon, state: str) -> None:
    with served(daemon, state) as base:
        answer = http(
            f"{base}/actions/run", {"host": "localhost", "node": "api"}, {"Authorization": f"Bearer {TOKEN}"}
        )
    assert answer.status == 200
    assert daemon.requested == [({API}, "operator")]


def test_without_an_operator_token_actions_are_off(daemon: FakeDaemon, state: str) -> None:
    with served(daemon, state, token=None) as base:
        answer = http(f"{base}/actions/run", {}, {"Authorization": f"Bearer {TOKEN}"})
    assert answer.status == 403
    assert daemon.requested == []


def alert(status: str = "firing", fingerprint: str = "f1", **labels: str) -> dict[str, object]:
    return {
        "status": status,
        "labels": {"alertname": "ServiceDown", "service": "api", **labels},
        "annotations": {},
        "startsAt": "2026-12-01T10:00:00Z",
        "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": "http://prometheus/graph",
        "fingerprint": fingerprint,
    }


def webhook(*alerts: dict[str, object], status: str = "firing") -> bytes:
    return json.dumps(
        {
            "version": "4",
            "groupKey": '{}:{alertname="ServiceDown"}',
            "truncatedAlerts": 0,
            "status": status,
            "receiver": "remediate",
            "groupLabels": {"alertname": "ServiceDown"},
            "commonLabels": {},
            "commonAnnotations": {},
            "externalURL": "http://alertmanager",
            "alerts": list(alerts),
        }
    ).encode()


def post_hook(base: str, body: bytes, token: str | None = HOOK_TOKEN) -> int:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return http(f"{base}/hooks/alertmanager", body, headers).status


def test_a_firing_alert_asks_for_a_run_of_its_nodes(daemon: FakeDaemon, state: str) -> None:
    with served(daemon, state) as base:
        assert post_hook(base, webhook(alert())) == 202
    assert daemon.requested == [({API}, "alert")]


def test_a_firing_alert_a_node_matches_itself_asks_for_a_run_of_that_node(
    daemon: FakeDaemon, state: str
) -> None:
    with served(daemon, state) as base:
        assert post_hook(base, webhook(alert(alertname="WebSlow"))) == 202
    assert daemon.requested == [({NodeKey("localhost", "web")}, "alert")]


@pytest.mark.parametrize(
    "token", [None, "wrong-token-wrong-token", TOKEN], ids=["none", "wrong", "the operator's"]
)
def test_an_unauthenticated_webhook_is_refused_and_starts_nothing(
    daemon: FakeDaemon, state: str, token: str | None
) -> None:
    with served(daemon, state) as base:
        assert post_hook(base, webhook(alert()), token) == 401
    assert daemon.requested == []


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[]",
        json.dumps({"version": "3", "status": "firing", "alerts": []}).encode(),
        json.dumps({"version": "4", "status": "firing"}).encode(),
        json.dumps({"version": "4", "status": "firing", "alerts": [{"status": "firing"}]}).encode(),
        json.dumps(
            {"version": "4", "status": "firing", "alerts": [{"status": "odd", "labels": {}}]}
        ).encode(),
    ],
    ids=["not json", "a list", "version 3", "no alerts", "alert without labels", "unknown status"],
)
def test_a_malformed_webhook_is_a_400_and_starts_nothing(daemon: FakeDaemon, state: str, body: bytes) -> None:
    with served(daemon, state) as base:
        assert post_hook(base, body) == 400
    assert daemon.requested == []


def test_an_oversized_webhook_is_refused(daemon: FakeDaemon, state: str) -> None:
    with served(daemon, state) as base:
        assert post_hook(base, b" " * (1024 * 1024 + 1)) == 413
    assert daemon.requested == []


def test_resolved_and_unmapped_alerts_start_nothing(daemon: FakeDaemon, state: str) -> None:
    with served(daemon, state) as base:
        assert post_hook(base, webhook(alert("resolved"), status="resolved")) == 202
        assert post_hook(base, webhook(alert(fingerprint="f2", service="worker"))) == 202
    assert daemon.requested == []


def test_the_same_alert_again_within_its_window_starts_nothing_new(daemon: FakeDaemon, state: str) -> None:
    with served(daemon, state) as base:
        for _ in range(3):
            assert post_hook(base, webhook(alert())) == 202
    assert daemon.requested == [({API}, "alert")]


def test_metrics_are_served_beside_the_page(tmp_path: Path, daemon: FakeDaemon, state: str) -> None:
    from engine.unattended.metrics import LatestMetrics, collect

    latest = LatestMetrics()
    latest.update(collect(run_once(tmp_path, BOOK, open_store(state), clock_now()), open_store(state)))
    daemon.latest = latest
    with served(daemon, state) as base:
        text = http(base + "/metrics").body
    assert 'remediate_node_healthy{host="localhost",node="db"} 1.0' in text


# --- a fleet (remediate daemon --broker --listen) ----------------------------------------------


def test_a_fleet_sharing_the_store_is_shown_with_its_workers_and_last_tick(
    daemon: FakeDaemon, state: str, store: StateStore
) -> None:
    now = datetime.now(UTC)
    store.register_worker(WorkerRecord("w1", "remediate.w1", "box", 1, now, "abc"))
    store.record_tick("shop", 9, now, "scheduler-1", [("localhost", ["localhost"], "remediate.w1")])
    store.finish_task("shop", 9, "localhost", "refused", "the playbook differs <b>", now, worker="w1")
    with served(daemon, state) as base:
        page = http(f"{base}/").body
        fleet = http(f"{base}/api/fleet").json()["fleet"]
    assert re.search(r'data-worker="w1">\s*<td>w1</td>\s*<td>unknown</td>\s*<td>tick 9: 1 host', page)
    assert "last tick 9" in page and "1 refused" in page
    assert "the playbook differs &lt;b&gt;" in page  # escaped like all text from the store
    assert fleet["workers"] == [{"name": "w1", "live": None, "tick": 9, "hosts": ["localhost"]}]


def test_a_store_without_a_fleet_shows_none(daemon: FakeDaemon, state: str) -> None:
    with served(daemon, state) as base:
        assert "<h2>Fleet</h2>" not in http(f"{base}/").body
        assert http(f"{base}/api/fleet").json() == {"fleet": None}


def test_a_fleets_page_starts_no_run_on_request_and_says_when_its_workers_act(
    daemon: FakeDaemon, state: str
) -> None:
    daemon.starts_runs = False
    with served(daemon, state) as base:
        answer = http(
            f"{base}/actions/run", {"host": "localhost", "node": "api"}, {"Authorization": f"Bearer {TOKEN}"}
        )
        hook = http(
            f"{base}/hooks/alertmanager",
            webhook(alert()),
            {"Content-Type": "application/json", "Authorization": f"Bearer {HOOK_TOKEN}"},
        )
    assert answer.json() == {"done": f"no run started: {NEXT_TICK}"}
    assert hook.json()["run"] == "next tick"
    assert daemon.requested == []
