"""What the scheduler sends (a tick's tasks packed into messages per worker queue), and what
it prunes."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from engine.core.planning import plan_run
from engine.fleet.broker import celery_app
from engine.fleet.scheduler import BATCH_HOSTS, Scheduler, batches
from engine.output.logs import QuietLogger
from engine.unattended.state import open_store
from engine.unattended.state.postgres import PostgresStateStore
from inventory import load_inventory
from tests.servers.state_postgres import StatePostgres

QUEUES = ["remediate", "remediate.w1", "remediate.w2"]


@st.composite
def ticks(draw: st.DrawFn) -> list[tuple[str, list[str], str]]:
    sizes = draw(st.lists(st.integers(1, BATCH_HOSTS + 5), max_size=60))
    return [
        (f"g{number}", [f"g{number}-h{i}" for i in range(size)], draw(st.sampled_from(QUEUES)))
        for number, size in enumerate(sizes)
    ]


@given(ticks())
def test_every_group_is_sent_once_to_its_own_queue_in_order(tasks: list[tuple[str, list[str], str]]) -> None:
    messages = batches(tasks)
    sent = [(group, hosts, queue) for queue, batch in messages for group, hosts in batch]
    assert sorted(sent) == sorted(tasks)
    for queue in QUEUES:
        assert [t for t in sent if t[2] == queue] == [t for t in tasks if t[2] == queue]


@given(ticks())
def test_a_message_carries_at_most_batch_hosts_unless_one_group_is_larger(
    tasks: list[tuple[str, list[str], str]],
) -> None:
    for _, batch in batches(tasks):
        assert batch
        assert sum(len(hosts) for _, hosts in batch) <= BATCH_HOSTS or len(batch) == 1


@given(ticks())
def test_a_worker_gets_as_few_messages_as_the_batch_size_allows(tasks: list[tuple[str, list[str], str]]) -> None:
    messages = batches(tasks)
    for queue in QUEUES:
        hosts = sum(len(h) for _, h, q in tasks if q == queue)
        mine = [batch for q, batch in messages if q == queue]
        # packed greedily: two messages in a row never fit in one
        for first, second in itertools.pairwise(mine):
            assert sum(len(h) for _, h in first) + sum(len(h) for _, h in second) > BATCH_HOSTS
        assert len(mine) <= max(1, 2 * hosts // BATCH_HOSTS + 1) if hosts else not mine


def test_scheduling_a_tick_prunes_the_ticks_older_than_the_retention(
    tmp_path: Path, state_postgres: StatePostgres
) -> None:
    (tmp_path / "site.yml").write_text("name: site\nhosts: all\nchecks:\n  up:\n    command: {cmd: 'true'}\n")
    (tmp_path / "hosts.ini").write_text("[all]\nh1 ansible_connection=local\n")
    plan = plan_run(tmp_path / "site.yml", load_inventory([str(tmp_path / "hosts.ini")]))
    store = open_store(state_postgres.new_database())
    assert isinstance(store, PostgresStateStore)
    try:
        now = datetime.now(UTC)
        store.record_tick("site", 1, now - timedelta(days=2), "s", [("h1", ["h1"], "remediate")])
        store.record_tick("site", 2, now - timedelta(hours=1), "s", [("h1", ["h1"], "remediate")])
        scheduler = Scheduler(lambda: plan, store, "memory://", 60.0, QuietLogger(), retention=86400.0)
        assert scheduler.schedule(celery_app("memory://"), plan, 3)
        assert [t.tick for t in store.ticks("site")] == [2, 3]
        assert store.fleet_task("site", 1, "h1") is None
    finally:
        store.close()
