"""The at-most-once rule: what a worker does with a delivered task, whatever the store says."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from engine.fleet.claims import Verdict, decide
from engine.unattended.state.base import FleetTask


def task(status: str = "queued", worker: str = "", run_id: str = "") -> FleetTask:
    return FleetTask("site", 7, "web1", ["web1"], "remediate.w1", status, worker, run_id, "", None, None, None)


def verdict(found: FleetTask | None, **changes: object) -> Verdict:
    arguments: dict[str, object] = {
        "worker": "w2",
        "live_workers": {"w1", "w2"},
        "my_runs": set(),
        "later_tick_started": False,
        "digest": "abc",
        "my_digest": "abc",
        **changes,
    }
    return decide(found, **arguments).verdict  # type: ignore[arg-type]


def test_a_queued_task_is_claimed_and_run() -> None:
    assert verdict(task()) is Verdict.RUN


@pytest.mark.parametrize("status", ["done", "locked", "refused", "superseded", "failed"])
def test_a_task_that_ended_is_not_run_again_when_delivered_again(status: str) -> None:
    assert verdict(task(status, "w1", "r1")) is Verdict.DROP


def test_a_task_a_live_worker_runs_is_a_duplicate_delivery() -> None:
    assert verdict(task("running", "w1", "r1")) is Verdict.DROP


def test_a_task_whose_worker_died_is_taken_over() -> None:
    assert verdict(task("running", "w1", "r1"), live_workers={"w2"}) is Verdict.TAKE_OVER


def test_a_task_of_this_worker_under_the_same_name_but_not_in_its_runs_is_from_a_dead_incarnation() -> None:
    assert verdict(task("running", "w2", "old"), my_runs={"r9"}) is Verdict.TAKE_OVER
    assert verdict(task("running", "w2", "r9"), my_runs={"r9"}) is Verdict.DROP


def test_a_stale_task_is_superseded_by_a_later_tick_of_its_group() -> None:
    assert verdict(task(), later_tick_started=True) is Verdict.SUPERSEDE
    assert verdict(task("running", "w1", "r1"), live_workers={"w2"}, later_tick_started=True) is Verdict.SUPERSEDE


def test_a_task_of_another_playbook_is_refused_with_both_hashes() -> None:
    claim = decide(
        task(),
        worker="w2",
        live_workers={"w2"},
        my_runs=set(),
        later_tick_started=False,
        digest="aaaa",
        my_digest="bbbb",
    )
    assert claim.verdict is Verdict.REFUSE
    assert "aaaa" in claim.reason and "bbbb" in claim.reason and "same playbook" in claim.reason


def test_a_task_the_store_does_not_know_is_dropped() -> None:
    assert verdict(None) is Verdict.DROP


def test_timestamps_do_not_matter_to_the_rule() -> None:
    now = datetime.now(UTC)
    found = FleetTask("site", 7, "web1", ["web1"], "q", "queued", "", "", "", now, now, 0)
    assert verdict(found) is Verdict.RUN
