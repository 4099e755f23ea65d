"""The run loop against real local processes: ordering, concurrency, blocking, timeouts,
recovery propagation and idempotency."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from checks.base import Check
from engine.core import runner as runner_module
from engine.core.clock import Clock, SystemClock
from engine.core.node import Mode
from engine.core.registry import ACTION_TYPES, CHECK_TYPES, action_type, check_type
from engine.core.results import ActionResult, CheckResult, Outcome
from engine.core.runner import Runner, RunSettings
from engine.core.stopping import Stop
from engine.output.report import RunReport
from engine.transports import TransportPool
from inventory import Inventory
from remediations.base import Action
from tests.support.clock import FakeClock
from tests.support.fixtures import FIXTURES
from tests.support.playbooks import plan
from tests.support.services import Service


def run(
    tmp_path: Path,
    text: str,
    mode: Mode = Mode.RUN,
    forks: int = 4,
    clock: Clock | None = None,
    **extra_vars: object,
) -> RunReport:
    """Run a playbook on this host; real time unless a test hands in a fake clock."""
    settings = RunSettings(
        mode=mode, forks=forks, clock=clock or SystemClock(), incident_dir=tmp_path / "incidents"
    )
    return Runner(plan(tmp_path, text, **extra_vars), settings).run()


def outcomes(report: RunReport) -> dict[str, str]:
    return {n.node: str(n.outcome) for n in report.nodes}


def test_upstream_nodes_are_checked_before_their_dependents(tmp_path: Path) -> None:
    log = tmp_path / "order"
    report = run(
        tmp_path,
        f"""
        name: order
        checks:
          web: {{depends_on: [api], command: {{cmd: "echo web >> {log}"}}}}
          api: {{depends_on: [db], command: {{cmd: "echo api >> {log}"}}}}
          db: {{command: {{cmd: "echo db >> {log}"}}}}
    """,
    )
    assert log.read_text().split() == ["db", "api", "web"]
    assert [n.node for n in report.nodes] == ["db", "api", "web"]


def meet(directory: Path, me: str, other: str, tries: int) -> str:
    """A check that marks itself started, then waits for the other to have started too: run one
    after the other, the first to run fails."""
    return (
        f"touch {directory}/{me}; for i in $(seq {tries}); do [ -e {directory}/{other} ] && exit 0; "
        "sleep 0.05; done; exit 1"
    )


def test_independent_branches_run_at_the_same_time(tmp_path: Path) -> None:

    report = run(
        tmp_path,
        f"""
        name: branches
        checks:
          left: {{command: {{cmd: "{meet(tmp_path, "left", "right", 100)}", timeout: 10s}}}}
          right: {{command: {{cmd: "{meet(tmp_path, "right", "left", 100)}", timeout: 10s}}}}
    """,
        forks=2,
    )
    assert outcomes(report) == {"left": "healthy", "right": "healthy"}


def test_forks_bound_how_many_nodes_run_at_once(tmp_path: Path) -> None:
    report = run(
        tmp_path,
        f"""
        name: branches
        checks:
          left: {{command: {{cmd: "{meet(tmp_path, "left", "right", 10)}"}}}}
          right: {{command: {{cmd: "{meet(tmp_path, "right", "left", 10)}"}}}}
    """,
        forks=1,
    )
    assert sorted(outcomes(report).values()) == ["failed", "healthy"]


def test_a_node_thread_ends_with_its_node_while_others_still_run(tmp_path: Path) -> None:
    # A pool kept every fork's thread alive, idle, until the run ended: at 500 hosts some
    # 4 MB of stacks at the peak.
    go = tmp_path / "go"
    finished: list[RunReport] = []
    walker = threading.Thread(
        target=lambda: finished.append(
            run(
                tmp_path,
                f"""
                name: threads
                checks:
                  quick: {{command: {{cmd: "true"}}}}
                  slow: {{command: {{cmd: "touch {tmp_path}/slow; while [ ! -e {go} ]; do sleep 0.05; done", timeout: 20s}}}}
            """,
            )
        )
    )
    walker.start()
    try:
        deadline = time.monotonic() + 10
        node_threads: list[str] = []
        while time.monotonic() < deadline:
            node_threads = [t.name for t in threading.enumerate() if t.name.startswith("node")]
            if (tmp_path / "slow").exists() and len(node_threads) == 1:
                break
            time.sleep(0.05)
        assert len(node_threads) == 1 and node_threads[0].endswith("slow")
    finally:
        go.touch()
        walker.join(20)
    assert outcomes(finished[0]) == {"quick": "healthy", "slow": "healthy"}


def test_dependents_of_a_failed_node_are_blocked_naming_the_root_cause_and_never_checked(
    tmp_path: Path,
) -> None:
    touched = tmp_path / "touched"
    report = run(
        tmp_path,
        clock=FakeClock(),
        text=f"""
        name: blocked
        checks:
          db: {{command: {{cmd: "exit 1"}}}}
          api: {{depends_on: [db], command: {{cmd: "touch {touched}"}}, remediate: [{{command: {{cmd: "touch {touched}"}}}}]}}
          web: {{depends_on: [api], command: {{cmd: "touch {touched}"}}}}
    """,
    )
    assert outcomes(report) == {"db": "failed", "api": "blocked", "web": "blocked"}
    assert report.node("localhost", "web").blocked_by == ["db"]
    assert not touched.exists()


def test_a_hung_check_is_killed_at_its_timeout_and_is_an_error(tmp_path: Path) -> None:
    marker = f"sleep 61.{abs(hash(tmp_path)) % 10**6}"
    report = run(
        tmp_path,
        f"""
        name: hung
        checks:
          slow: {{command: {{cmd: "{marker}", timeout: 500ms}}}}
          other: {{command: {{cmd: "true"}}}}
    """,
    )
    assert outcomes(report) == {"slow": "error", "other": "healthy"}
    assert "did not finish within 0.5s" in report.node("localhost", "slow").reason
    assert subprocess.run(["pgrep", "-f", marker], capture_output=True).returncode == 1


def test_a_hung_action_is_killed_at_its_timeout_and_fails_the_step(tmp_path: Path) -> None:
    report = run(
        tmp_path,
        """
        name: hung
        checks:
          svc:
            command: {cmd: "exit 1"}
            verify: {within: 0s}
            remediate:
              - {command: {cmd: "sleep 60"}, timeout: 500ms}
    """,
    )
    result = report.node("localhost", "svc")
    assert result.outcome is Outcome.FAILED
    assert result.steps[0].status == "failed"
    assert result.steps[0].detail == "killed after 0.5s"


@pytest.fixture
def raising_check_type() -> Iterator[None]:
    @check_type("raises")
    class Raises(Check):
        def probe(self, ctx: object) -> CheckResult:
            raise RuntimeError("probe exploded")

    yield
    CHECK_TYPES.unregister("raises")


def test_a_check_that_raises_is_an_error_for_its_node_only(tmp_path: Path, raising_check_type: None) -> None:
    report = run(
        tmp_path,
        """
        name: raising
        checks:
          bad: {raises: {}}
          good: {command: {cmd: "true"}}
    """,
    )
    assert outcomes(report) == {"bad": "error", "good": "healthy"}
    assert report.node("localhost", "bad").reason == "raises check raised RuntimeError: probe exploded"


@pytest.fixture
def hanging_types(monkeypatch: pytest.MonkeyPatch) -> Iterator[threading.Event]:
    """A check and an action that ignore their timeouts (as a buggy client would), each
    blocked until the test lets go; the engine's grace past a timeout cut to 0.2 s."""
    release = threading.Event()
    monkeypatch.setattr(runner_module, "GRACE", 0.2)

    @check_type("hangs")
    class Hangs(Check):
        def probe(self, ctx: object) -> CheckResult:
            release.wait(60)
            return CheckResult.healthy("answered late")

    @action_type("hangs")
    class Hanging(Action):
        def apply(self, ctx: object) -> ActionResult:
            release.wait(60)
            return ActionResult.changed("answered late")

    yield release
    release.set()
    CHECK_TYPES.unregister("hangs")
    ACTION_TYPES.unregister("hangs")


def test_a_check_that_ignores_its_timeout_is_abandoned_and_the_run_goes_on(
    tmp_path: Path, hanging_types: threading.Event
) -> None:
    report = run(
        tmp_path,
        """
        name: abandoned
        checks:
          stuck: {hangs: {timeout: 100ms}}
          fine: {command: {cmd: "true"}}
    """,
    )
    assert not hanging_types.is_set()  # the run ended while the call still hung
    assert outcomes(report) == {"stuck": "error", "fine": "healthy"}
    assert report.node("localhost", "stuck").reason == "hangs check did not finish within 0.1s"


def test_an_action_that_ignores_its_timeout_is_abandoned_and_the_next_rung_runs(
    tmp_path: Path, hanging_types: threading.Event
) -> None:
    report = run(
        tmp_path,
        f"""
        name: abandoned
        checks:
          svc:
            command: {{cmd: "test -e {tmp_path}/fixed"}}
            remediate:
              - {{hangs: {{}}, timeout: 100ms}}
              - command: {{cmd: "touch {tmp_path}/fixed"}}
    """,
    )
    assert not hanging_types.is_set()
    result = report.node("localhost", "svc")
    assert result.outcome is Outcome.REMEDIATED
    assert [step.status for step in result.steps] == ["failed", "changed"]
    assert result.steps[0].detail == "did not finish within 0.1s (abandoned)"


DEMO = (FIXTURES / "playbooks" / "demo.yml").read_text()


def demo_vars(db: Service, api: Service, web: Service) -> dict[str, object]:
    return {
        "db_port": db.port,
        "api_port": api.port,
        "web_port": web.port,
        "start_db": db.start_command,
        "restart_api": api.restart_command,
        "restart_web": web.restart_command,
    }


@pytest.fixture
def demo_stack(tmp_path: Path, services: list[Service]) -> tuple[Service, Service, Service]:
    db, api, web = (
        Service("tcp", tmp_path).start(),
        Service("http", tmp_path).start(),
        Service("http", tmp_path).start(),
    )
    services.extend([db, api, web])
    return db, api, web


def test_a_recovered_upstream_restarts_dependents_that_hold_stale_connections(
    tmp_path: Path, demo_stack: tuple[Service, Service, Service]
) -> None:
    db, api, web = demo_stack
    db.stop()
    report = run(tmp_path, DEMO, **demo_vars(db, api, web))
    assert outcomes(report) == {"db": "remediated", "api": "healthy", "web": "healthy"}
    api.stop()
    report = run(tmp_path, DEMO, **demo_vars(db, api, web))
    assert outcomes(report) == {"db": "healthy", "api": "remediated", "web": "remediated"}
    assert report.node("localhost", "web").reason == "restarted after its upstream recovered"
    assert (api.starts, web.starts) == (2, 2)


def test_a_second_run_on_a_healthy_system_changes_nothing(
    tmp_path: Path, demo_stack: tuple[Service, Service, Service]
) -> None:
    db, api, web = demo_stack
    db.stop()
    first = run(tmp_path, DEMO, **demo_vars(db, api, web))
    second = run(tmp_path, DEMO, **demo_vars(db, api, web))
    assert outcomes(first)["db"] == "remediated"
    assert set(outcomes(second).values()) == {"healthy"}
    assert all(n.steps == [] for n in second.nodes)
    assert db.starts == 2


def test_a_dry_run_against_a_broken_system_changes_nothing(
    tmp_path: Path, demo_stack: tuple[Service, Service, Service]
) -> None:
    db, api, web = demo_stack
    api.stop()
    report = run(tmp_path, DEMO, mode=Mode.DRY_RUN, **demo_vars(db, api, web))
    assert outcomes(report) == {"db": "healthy", "api": "would_remediate", "web": "blocked"}
    assert report.node("localhost", "api").plan == [
        f"command: {api.restart_command}",
        "wait up to 30s for the check to pass",
    ]
    assert not api.is_up()
    assert api.starts == 1


def test_each_node_and_step_says_when_it_started_after_the_run_started(tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    report = run(
        tmp_path,
        f"""
        name: timeline
        checks:
          db:
            command: {{cmd: "sleep 0.1; test -e {marker}"}}
            remediate:
              - command: {{cmd: "sleep 0.2; touch {marker}"}}
          api: {{depends_on: [db], command: {{cmd: "true"}}}}
          web: {{depends_on: [api], command: {{cmd: "false"}}}}
          search: {{depends_on: [web], command: {{cmd: "true"}}}}
    """,
    )
    db, api, web, search = (report.node("localhost", name) for name in ("db", "api", "web", "search"))
    (step,) = db.steps
    assert 0 <= db.started_ms < 100
    assert db.started_ms + 100 <= step.started_ms <= db.started_ms + db.duration_ms - step.duration_ms
    assert step.duration_ms >= 200
    assert api.started_ms >= db.started_ms + db.duration_ms
    assert web.started_ms >= api.started_ms + api.duration_ms
    assert search.outcome is Outcome.BLOCKED and search.started_ms >= web.started_ms + web.duration_ms


def test_a_skipped_upstream_counts_as_healthy_and_its_dependent_is_checked(tmp_path: Path) -> None:
    report = run(
        tmp_path,
        """
        name: skipped
        vars: {env: dev}
        checks:
          db: {when: "env == 'prod'", command: {cmd: "exit 1"}}
          api: {depends_on: [db], command: {cmd: "true"}}
    """,
    )
    assert outcomes(report) == {"db": "skipped", "api": "healthy"}
    assert report.node("localhost", "api").blocked_by == []


@pytest.mark.parametrize(
    ("outcome", "good"),
    [(o, o in {Outcome.HEALTHY, Outcome.REMEDIATED, Outcome.SKIPPED}) for o in Outcome],
)
def test_only_healthy_remediated_and_skipped_nodes_count_as_good(outcome: Outcome, good: bool) -> None:
    assert outcome.is_good is good


def test_planning_a_playbook_without_a_cluster_never_loads_the_kubernetes_client() -> None:
    # Checking cluster settings is part of planning, paid only by hosts that name a cluster.
    code = (
        "import sys\n"
        "from engine.core.planning import plan_run\n"
        "from inventory import Inventory\n"
        "plan_run(sys.argv[1], Inventory.localhost(), extra_vars=dict(api_port=1, db_port=2, "
        "web_port=3, start_db='a', restart_api='b', restart_web='c'))\n"
        "assert 'engine.clients.kubernetes' not in sys.modules\n"
    )
    demo = FIXTURES / "playbooks" / "demo.yml"
    result = subprocess.run([sys.executable, "-c", code, str(demo)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_hosts_that_finish_together_have_their_connections_closed_together(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Closing a connection takes system calls that each wait for the GIL: when the run loop
    # closed every host's connection in turn, 500 hosts' closes took 11 s of a 20 s run and
    # finished hosts kept their connections (and threads) open meanwhile.
    closing: list[tuple[float, float]] = []

    class SlowToClosePool(TransportPool):
        def release(self, host: str) -> None:
            started = time.monotonic()
            time.sleep(0.3)
            super().release(host)
            closing.append((started, time.monotonic()))

    monkeypatch.setattr("engine.core.runner.TransportPool", SlowToClosePool)
    inventory = Inventory()
    for number in range(4):
        inventory.add_host(f"h{number}", "ungrouped", {"ansible_connection": "local"})
    playbook = "name: close\nhosts: all\nchecks:\n  alive: {command: {cmd: 'true'}}\n"
    report = Runner(plan(tmp_path, playbook, inventory), RunSettings(forks=4)).run()
    assert report.exit_code == 0
    assert len(closing) == 4
    first_end = min(end for _, end in closing)
    assert sum(start < first_end for start, _ in closing) > 1, "the closes ran one after another"


def test_nodes_waiting_for_a_fork_when_the_run_stops_end_skipped_unchecked(tmp_path: Path) -> None:
    stop = Stop()
    go = tmp_path / "go"
    settings = RunSettings(forks=1, incident_dir=tmp_path / "incidents", stop=stop)
    text = f"""
        name: stopping
        checks:
          first: {{command: {{cmd: "touch {tmp_path}/started; while [ ! -e {go} ]; do sleep 0.05; done", timeout: 20s}}}}
          second: {{command: {{cmd: "touch {tmp_path}/second"}}}}
          third: {{command: {{cmd: "touch {tmp_path}/third"}}}}
    """
    finished: list[RunReport] = []
    walker = threading.Thread(target=lambda: finished.append(Runner(plan(tmp_path, text), settings).run()))
    walker.start()
    try:
        deadline = time.monotonic() + 10
        while not (tmp_path / "started").exists():
            assert time.monotonic() < deadline, "the first node never started"
            time.sleep(0.05)
        stop.request(signal.SIGTERM)
    finally:
        go.touch()
        walker.join(20)
    [report] = finished
    assert outcomes(report) == {"first": "healthy", "second": "skipped", "third": "skipped"}
    assert {n.reason for n in report.nodes[1:]} == {"not checked: the run was stopped by SIGTERM"}
    assert not (tmp_path / "second").exists() and not (tmp_path / "third").exists()
