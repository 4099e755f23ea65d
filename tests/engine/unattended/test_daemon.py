"""`remediate daemon` as a real process: systemd notify, SIGTERM, SIGHUP, /metrics."""

from __future__ import annotations

import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from engine.unattended.daemon import jittered
from engine.unattended.state import open_store
from tests.support.cli import remediate, start
from tests.support.playbooks import approval_playbook, write_playbook
from tests.support.services import free_port
from tests.support.unattended import Switch


def eventually(condition: Callable[[], object], what: str, timeout: float = 120) -> None:
    """Wait for a condition (a wait, not an assertion on time: the timeout only ends a hang)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"never happened: {what}")
        time.sleep(0.05)


@pytest.fixture
def notify_socket(tmp_path: Path) -> Iterator[socket.socket]:
    receiver = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    receiver.bind(str(tmp_path / "notify.sock"))
    receiver.settimeout(120)
    yield receiver
    receiver.close()


def datagrams(receiver: socket.socket, until: str) -> list[str]:
    seen: list[str] = []
    while until not in seen:
        seen.append(receiver.recv(4096).decode())
    return seen


def runs(state: Path) -> int:
    if not state.exists():
        return 0
    store = open_store(str(state))
    try:
        return len([r for r in store.runs() if r.finished_at is not None])
    finally:
        store.close()


def recorded_nodes(state: Path) -> set[str]:
    store = open_store(str(state))
    try:
        return {node for (_, node) in store.last_outcomes()}
    finally:
        store.close()


def stop(daemon: subprocess.Popen[str]) -> tuple[str, str]:
    daemon.send_signal(signal.SIGTERM)
    return daemon.communicate(timeout=60)


HEALTHY = """
name: steady
checks:
  api: {command: {cmd: "true"}}
"""


def test_the_daemon_tells_systemd_it_is_ready_runs_repeatedly_and_stops_on_sigterm(
    tmp_path: Path, notify_socket: socket.socket
) -> None:
    state = tmp_path / "state.db"
    book = write_playbook(tmp_path, HEALTHY)
    daemon = start(
        "daemon",
        book,
        "--interval",
        "100ms",
        state=state,
        cwd=tmp_path,
        NOTIFY_SOCKET=str(tmp_path / "notify.sock"),
    )
    assert datagrams(notify_socket, "READY=1")[-1] == "READY=1"
    eventually(lambda: runs(state) >= 3, "three runs")
    _, err = stop(daemon)
    assert daemon.returncode == 0, err
    assert "STOPPING=1" in datagrams(notify_socket, "STOPPING=1")


def test_the_daemon_pings_the_systemd_watchdog_while_it_waits(
    tmp_path: Path, notify_socket: socket.socket
) -> None:
    book = write_playbook(tmp_path, HEALTHY)
    daemon = start(
        "daemon", book, "--interval", "1h", state=tmp_path / "state.db", cwd=tmp_path,
        NOTIFY_SOCKET=str(tmp_path / "notify.sock"), WATCHDOG_USEC="200000",
    )  # fmt: skip
    try:
        seen = datagrams(notify_socket, "READY=1")
        for _ in range(3):  # a one-hour wait, yet pings keep coming
            seen += datagrams(notify_socket, "WATCHDOG=1")
            seen.remove("WATCHDOG=1")
    finally:
        stop(daemon)


def test_on_sigterm_the_action_in_flight_finishes_and_no_new_action_starts(tmp_path: Path) -> None:
    state = tmp_path / "state.db"
    api, web = Switch(tmp_path, "api"), Switch(tmp_path, "web")
    started, release = tmp_path / "started", tmp_path / "release"
    slow = f"touch {started}; i=0; while [ ! -e {release} ] && [ $i -lt 2400 ]; do sleep 0.05; i=$((i+1)); done; {api.fixing_action()}"
    book = write_playbook(
        tmp_path,
        f"""
        name: graceful
        checks:
          api:
            command: {{cmd: "{api.check()}"}}
            verify: {{within: 0s}}
            remediate: [{{command: {{cmd: "{slow}"}}, timeout: 60s}}]
          web:
            depends_on: [api]
            command: {{cmd: "{web.check()}"}}
            verify: {{within: 0s}}
            remediate: [{{command: {{cmd: "{web.fixing_action()}"}}}}]
        """,
    )
    daemon = start("daemon", book, "--interval", "100ms", state=state, cwd=tmp_path)
    eventually(started.exists, "the slow action started")
    daemon.send_signal(signal.SIGTERM)
    release.touch()
    _, err = daemon.communicate(timeout=60)
    assert daemon.returncode == 0, err
    assert api.actions_run == 1  # finished, not cut off
    assert web.actions_run == 0  # its turn came after SIGTERM
    store = open_store(str(state))
    [attempt] = store.attempts("localhost", "api")
    assert attempt.outcome == "changed"
    store.close()


def test_sighup_reloads_the_playbook_and_a_broken_one_is_rejected(tmp_path: Path) -> None:
    state = tmp_path / "state.db"
    book = write_playbook(tmp_path, HEALTHY)
    daemon = start("daemon", book, "--interval", "100ms", state=state, cwd=tmp_path)
    eventually(lambda: runs(state) >= 1, "a first run")
    book.write_text('name: broken\nchecks:\n  api: {command: {cmd: "true"}, depends_on: [nowhere]}\n')
    daemon.send_signal(signal.SIGHUP)
    before = runs(state)
    eventually(lambda: runs(state) >= before + 3, "runs after the rejected reload")
    write_playbook(tmp_path, HEALTHY + '  extra: {command: {cmd: "true"}}\n')
    daemon.send_signal(signal.SIGHUP)
    eventually(lambda: "extra" in recorded_nodes(state), "the reloaded playbook's new node")
    _, err = stop(daemon)
    assert daemon.returncode == 0
    assert "reload rejected, keeping the previous playbook" in err
    assert "nowhere" in err
    assert '"event": "reloaded"' in err


def test_the_daemon_serves_metrics_on_a_loopback_port(tmp_path: Path) -> None:
    state = tmp_path / "state.db"
    port = free_port()
    book = write_playbook(tmp_path, HEALTHY)
    daemon = start(
        "daemon", book, "--interval", "100ms", "--metrics-port", str(port), state=state, cwd=tmp_path
    )
    try:
        eventually(lambda: runs(state) >= 1, "a first run")

        def scraped() -> str:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
                    return str(response.read().decode())
            except OSError:
                return ""

        eventually(lambda: "remediate_node_healthy" in scraped(), "metrics served")
        assert 'remediate_node_healthy{host="localhost",node="api"} 1.0' in scraped()
    finally:
        stop(daemon)


def test_a_daemon_started_with_an_invalid_playbook_exits_2(tmp_path: Path) -> None:
    book = write_playbook(tmp_path, "name: broken\nchecks: {}\n")
    daemon = start("daemon", book, state=tmp_path / "state.db", cwd=tmp_path)
    daemon.communicate(timeout=60)
    assert daemon.returncode == 2


@pytest.mark.parametrize(("draw", "expected"), [(min, 54.0), (max, 66.0), (lambda low, high: 0.0, 60.0)])
def test_the_interval_is_jittered_within_its_share(
    draw: Callable[[float, float], float], expected: float
) -> None:
    assert jittered(60.0, 0.1, draw) == expected


def test_runs_asked_for_while_one_waits_are_coalesced_into_it() -> None:
    from engine.core.graph import NodeKey
    from engine.unattended.daemon import Daemon

    daemon = Daemon(lambda: None, None, 60.0, None)  # type: ignore[arg-type,return-value]
    api, db = NodeKey("h", "api"), NodeKey("h", "db")
    assert daemon.request_run({api}, "alert") is True
    assert daemon.request_run({db}, "operator") is False
    assert daemon._take_pending() == ("alert", {api, db})
    assert daemon._take_pending() is None
    daemon.request_run({api}, "alert")
    daemon.request_run(None, "operator")  # the whole plan covers the node's run
    assert daemon._take_pending() == ("alert", None)


ALERTED = """
name: alerted
checks:
  db: {command: {cmd: "true"}}
  api: {depends_on: [db], command: {cmd: "true"}}
  web: {depends_on: [api], command: {cmd: "true"}}
alerts:
  - match: {alertname: ServiceDown}
    nodes: [api]
"""


def test_a_firing_alert_starts_a_run_of_its_node_and_upstreams_long_before_the_interval(
    tmp_path: Path,
) -> None:
    import json

    from tests.support.web import HOOK_TOKEN, http

    state, port = tmp_path / "state.db", free_port()
    book = write_playbook(tmp_path, ALERTED)
    daemon = start(
        "daemon", book, "--interval", "1h", "--listen", f"127.0.0.1:{port}",
        state=state, cwd=tmp_path, REMEDIATE_HOOK_TOKEN=HOOK_TOKEN,
    )  # fmt: skip
    try:
        eventually(lambda: runs(state) >= 1, "the first run")
        body = {"version": "4", "status": "firing", "alerts": [
            {"status": "firing", "labels": {"alertname": "ServiceDown"}, "fingerprint": "x"}]}  # fmt: skip
        answer = http(
            f"http://127.0.0.1:{port}/hooks/alertmanager",
            json.dumps(body).encode(),
            {"Authorization": f"Bearer {HOOK_TOKEN}", "Content-Type": "application/json"},
        )
        assert answer.status == 202 and answer.json()["run"] == "requested"
        eventually(lambda: runs(state) >= 2, "the alert's run")
        store = open_store(str(state))
        alerted = store.runs()[-1]
        checked = {e.node for e in store.history() if e.run_id == alerted.run_id}
        store.close()
        assert alerted.trigger == "alert"
        assert checked == {"db", "api"}  # the node and its upstream; not its dependent
    finally:
        stop(daemon)


def test_a_token_file_every_user_can_read_is_refused_at_start(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("0123456789abcdef0123456789")
    token.chmod(0o644)
    book = write_playbook(tmp_path, HEALTHY)
    daemon = start(
        "daemon", book, "--listen", f"127.0.0.1:{free_port()}", "--token-file", token,
        state=tmp_path / "state.db", cwd=tmp_path,
    )  # fmt: skip
    _, err = daemon.communicate(timeout=60)
    assert daemon.returncode == 2
    assert f"chmod 600 {token}" in err
    assert "Traceback" not in err


def waiting_for_approval(tmp_path: Path) -> tuple[subprocess.Popen[str], Path, str]:
    """A daemon (interval 1h) whose first run left node `api` waiting for an approval:
    (daemon, state, the approval's id); the step touches api.ok and appends to api.actions."""
    healthy, actions = tmp_path / "api.ok", tmp_path / "api.actions"
    book = approval_playbook(tmp_path, f"test -e {healthy}", f"echo run >> {actions}; touch {healthy}")
    state = tmp_path / "state.db"
    daemon = start("daemon", book, "--interval", "1h", state=state, cwd=tmp_path)
    eventually(lambda: runs(state) >= 1, "the first run")
    store = open_store(str(state))
    [pending] = store.approvals(open_only=True)
    store.close()
    return daemon, state, pending.id


def test_an_approval_given_on_the_command_line_runs_its_step_long_before_the_interval(
    tmp_path: Path,
) -> None:
    daemon, state, approval = waiting_for_approval(tmp_path)
    try:
        approved = remediate("approve", approval, state=state, cwd=tmp_path)
        assert approved.returncode == 0, approved.stderr
        # The interval is an hour: only the daemon's look at the approvals runs it now.
        eventually(lambda: (tmp_path / "api.ok").exists(), "the approved step", timeout=30)
        eventually(lambda: runs(state) >= 2, "the approval's run to end", timeout=30)
        store = open_store(str(state))
        used = store.approval(approval)
        [_, second] = store.runs()
        store.close()
        assert used is not None and used.status == "used"
        assert second.trigger == "operator"
        assert (tmp_path / "api.actions").read_text().split() == ["run"]  # acted once
    finally:
        stop(daemon)


def test_a_denial_on_the_command_line_shows_the_node_paused_long_before_the_interval(
    tmp_path: Path,
) -> None:
    daemon, state, approval = waiting_for_approval(tmp_path)
    try:
        denied = remediate("deny", approval, "--reason", "not now", state=state, cwd=tmp_path)
        assert denied.returncode == 0, denied.stderr
        eventually(lambda: runs(state) >= 2, "the denial's run", timeout=30)
        store = open_store(str(state))
        [(outcome, _)] = store.last_outcomes().values()
        store.close()
        assert outcome == "paused"
        assert not (tmp_path / "api.actions").exists()
    finally:
        stop(daemon)
