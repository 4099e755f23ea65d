from unittest import mock

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

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


def test_initial_sets_the_first_delay_without_jitter() -> None:
    spec = BackoffSpec(initial=2, factor=2, max=60, jitter=False)
    assert delays(spec, attempts=4) == [2, 4, 8]


def test_factor_three_triples_each_delay() -> None:
    spec = BackoffSpec(initial=1, factor=3, max=60, jitter=False)
    assert delays(spec, attempts=4) == [1, 3, 9]


def test_jitter_adds_up_to_the_initial_delay_not_one_second() -> None:
    spec = BackoffSpec(initial=4, factor=2, max=600, jitter=True)
    # random.uniform(0, jitter) at its upper bound: the jitter is `initial`, 4 s
    with mock.patch("random.uniform", side_effect=lambda low, high: high):
        assert delays(spec, attempts=3) == [8.0, 12.0]


@settings(max_examples=200, deadline=None)
@given(
    initial=st.floats(0.001, 3600),
    factor=st.floats(1, 10),
    cap=st.floats(0.001, 86400),
    attempts=st.integers(2, 12),
)
def test_any_schedule_without_jitter_is_initial_times_factor_powers_capped(
    initial: float, factor: float, cap: float, attempts: int
) -> None:
    spec = BackoffSpec(initial=initial, factor=factor, max=cap, jitter=False)
    expected = [min(initial * factor ** (n - 1), cap) for n in range(1, attempts)]
    assert delays(spec, attempts) == pytest.approx(expected, rel=1e-9)


@settings(max_examples=200, deadline=None)
@given(
    initial=st.floats(0.001, 3600),
    factor=st.floats(1, 10),
    cap=st.floats(0.001, 86400),
    attempts=st.integers(2, 12),
    share=st.floats(0, 1),
)
def test_any_schedule_with_jitter_adds_at_most_initial_and_stays_under_the_cap(
    initial: float, factor: float, cap: float, attempts: int, share: float
) -> None:
    spec = BackoffSpec(initial=initial, factor=factor, max=cap, jitter=True)
    with mock.patch("random.uniform", side_effect=lambda low, high: low + share * (high - low)):
        schedule = delays(spec, attempts)
    expected = [min(initial * factor ** (n - 1) + share * initial, cap) for n in range(1, attempts)]
    assert schedule == pytest.approx(expected, rel=1e-9)
