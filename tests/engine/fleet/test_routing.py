"""Routing a host group to a worker: stable while the worker lives, moved when it dies."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from engine.fleet.routing import SHARED_QUEUE, owner, queue_for, worker_queue

names = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=20)
workers = st.sets(names, min_size=1, max_size=8)
groups = st.lists(names, min_size=1, max_size=40, unique=True)


@given(workers, groups)
def test_a_group_goes_to_one_of_the_live_workers_whatever_their_order(live: set[str], keys: list[str]) -> None:
    for key in keys:
        chosen = owner(key, live)
        assert chosen in live
        assert owner(key, sorted(live, reverse=True)) == chosen


@given(workers, groups, st.data())
def test_a_dead_worker_moves_only_its_own_groups(live: set[str], keys: list[str], data: st.DataObject) -> None:
    dead = data.draw(st.sampled_from(sorted(live)))
    before = {key: owner(key, live) for key in keys}
    after = {key: owner(key, live - {dead}) for key in keys}
    for key in keys:
        if before[key] != dead:
            assert after[key] == before[key]
        else:
            assert after[key] != dead


@given(workers, groups, names)
def test_a_new_worker_takes_groups_only_for_itself(live: set[str], keys: list[str], new: str) -> None:
    for key in keys:
        now = owner(key, live | {new})
        assert now in (owner(key, live), new)


def test_groups_are_spread_over_the_workers() -> None:
    counts = {"w1": 0, "w2": 0, "w3": 0}
    for number in range(3000):
        chosen = owner(f"host{number}", counts)
        assert chosen is not None
        counts[chosen] += 1
    assert all(800 < n < 1200 for n in counts.values())


def test_with_no_live_worker_the_task_goes_to_the_shared_queue() -> None:
    assert queue_for("web1", set()) == SHARED_QUEUE
    assert queue_for("web1", {"w1"}) == worker_queue("w1") != SHARED_QUEUE
