from unittest import mock

from engine.core.backoff import delays
from engine.playbook.models import BackoffSpec


def test_delays_grow_by_the_factor_until_the_cap() -> None:
    spec = BackoffSpec(initial=1, factor=2, max=5, jitter=False)
    assert delays(spec, attempts=6) == [1, 2, 4, 5, 5]


def test_jitter_adds_at_most_the_initial_delay_and_never_passes_the_cap() -> None:
    spec = BackoffSpec(initial=1, factor=3, max=20, jitter=True)
    for _ in range(200):
        schedule = delays(spec, attempts=5)
        for base, delay in zip([1, 3, 9, 27], schedule, strict=True):
            assert min(base, 20) <= delay <= min(base + 1, 20)


def test_jitter_varies_the_delay() -> None:
    spec = BackoffSpec(initial=1, factor=2, max=60, jitter=True)
    with mock.patch("random.uniform", side_effect=[0.0, 1.0]):
        assert delays(spec, attempts=2) == [1.0]
        assert delays(spec, attempts=2) == [2.0]
