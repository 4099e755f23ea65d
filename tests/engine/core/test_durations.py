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


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("1.5m", 90), ("0.5s", 0.5), ("1.25h", 4500), ("0.5d", 43200), ("2.5ms", 0.0025), ("1h0.5m", 3630)],
)
def test_decimals_are_read_in_every_unit(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize(("text", "seconds"), [(" 5s ", 5), ("1m 30s", 90), (" 2 ", 2), (0, 0), ("0s", 0)])
def test_spaces_around_and_between_parts_are_ignored_and_zero_is_a_duration(
    text: object, seconds: float
) -> None:
    assert parse_duration(text) == seconds


def test_ten_years_is_the_longest_duration() -> None:
    assert parse_duration("3650d") == MAX_DURATION
    assert parse_duration(MAX_DURATION) == MAX_DURATION
    with pytest.raises(ValueError, match="at most 3650d"):
        parse_duration("3650d1ms")
    with pytest.raises(ValueError, match="at most 3650d"):
        parse_duration(MAX_DURATION + 1)


@pytest.mark.parametrize(("seconds", "text"), [(0, "0ms"), (0.9994, "999ms"), (59, "59s"), (60, "1m"), (86400 + 61, "1d1m1s")])
def test_durations_print_at_the_boundaries_of_their_units(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(0, 999),
            st.one_of(st.none(), st.integers(0, 99)),
            st.sampled_from(sorted(UNITS)),
        ),
        min_size=1,
        max_size=4,
    )
)
def test_any_sum_of_parts_with_or_without_decimals_is_their_total(
    parts: list[tuple[int, int | None, str]],
) -> None:
    text = "".join(f"{whole}{'' if frac is None else f'.{frac:02d}'}{unit}" for whole, frac, unit in parts)
    total = sum((whole + (0 if frac is None else frac / 100)) * UNITS[unit] for whole, frac, unit in parts)
    assert parse_duration(text) == pytest.approx(total, rel=1e-9, abs=1e-9)


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.integers(0, 999).map(lambda ms: ms / 1000), st.integers(1, 59), st.integers(60, int(MAX_DURATION))))
def test_any_printed_duration_reads_back_as_itself(seconds: float) -> None:
    assert parse_duration(format_duration(seconds)) == pytest.approx(seconds, abs=1e-9)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (-3, "a duration cannot be negative, got -3"),
        (4e8, "a duration can be at most 3650d (ten years), got 400000000.0"),
        ("400000000", "a duration can be at most 3650d (ten years), got '400000000'"),
        ("3651d", "a duration can be at most 3650d (ten years), got '3651d'"),
        (10**400, f"a duration can be at most 3650d (ten years), got {10**400!r}"),
    ],
)
def test_an_out_of_range_duration_is_quoted_in_its_error(value: object, message: str) -> None:
    with pytest.raises(ValueError) as raised:
        parse_duration(value)
    assert str(raised.value) == message


def test_one_second_prints_in_seconds_not_milliseconds() -> None:
    assert (format_duration(1), format_duration(0.999)) == ("1s", "999ms")
