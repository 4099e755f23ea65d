import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.core.durations import MAX_DURATION, format_duration, parse_duration


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("500ms", 0.5),
        ("5s", 5),
        ("2m", 120),
        ("1h", 3600),
        ("1d", 86400),
        ("1m30s", 90),
        (7, 7),
        ("2.5", 2.5),
    ],
)
def test_durations_are_read_in_their_units(text: object, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["5 parsecs", "", "s", "-1", True, None, "1x"])
def test_a_bad_duration_says_what_was_expected(text: object) -> None:
    with pytest.raises(ValueError, match="expected a duration such as 500ms"):
        parse_duration(text)


def test_a_negative_number_of_seconds_is_refused() -> None:
    with pytest.raises(ValueError, match="cannot be negative"):
        parse_duration(-3)


@pytest.mark.parametrize(("seconds", "text"), [(0.25, "250ms"), (1.5, "1.5s"), (90, "1m30s"), (3600, "1h")])
def test_durations_print_in_their_shortest_form(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


@pytest.mark.parametrize("value", [float("inf"), float("-inf"), float("nan"), 1e309, 10**400, "9" * 400 + "s"])
def test_an_infinite_or_overflowing_duration_is_refused(value: object) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(value)


@settings(max_examples=150, deadline=None)
@given(
    st.one_of(
        st.floats(allow_nan=True, allow_infinity=True),
        st.integers(),
        st.text(),
        st.from_regex(r"\A[0-9]{1,400}(\.[0-9]{1,5})?(ms|s|m|h|d)?\Z"),
    )
)
def test_any_value_is_a_finite_bounded_duration_or_a_clear_error(value: object) -> None:
    try:
        seconds = parse_duration(value)
    except ValueError as exc:
        assert "duration" in str(exc)
    else:
        assert math.isfinite(seconds)
        assert 0 <= seconds <= MAX_DURATION
