"""Host ranges expand as Ansible's do, in time linear in the hosts, and are refused past the cap."""

from __future__ import annotations

import itertools
import string

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.errors import HostPatternError
from inventory.hostpatterns import expand
from inventory.model import MAX_HOSTS


def reference(begin: int, end: int, step: int, width: int) -> list[str]:
    return [str(n).zfill(width) for n in range(begin, end + 1, step)]


@settings(max_examples=200, deadline=None)
@given(
    st.integers(0, 300), st.integers(0, 300), st.integers(1, 7), st.booleans(),
    st.sampled_from(string.ascii_lowercase), st.sampled_from(string.ascii_lowercase),
)
def test_ranges_expand_as_the_reference_does(
    begin: int, end: int, step: int, padded: bool, first: str, last: str
) -> None:
    width = 3 if padded else 0
    low = str(begin).zfill(width) if padded else str(begin)
    high = str(end).zfill(width) if padded else str(end)
    letters = string.ascii_lowercase[string.ascii_lowercase.index(first) : string.ascii_lowercase.index(last) + 1]
    if not letters:
        with pytest.raises(HostPatternError):
            expand(f"web[{low}:{high}:{step}]-[{first}:{last}].x")
        return
    expected = [f"web{n}-{c}.x" for n, c in itertools.product(reference(begin, end, step, width), letters)]
    assert expand(f"web[{low}:{high}:{step}]-[{first}:{last}].x") == expected


@settings(max_examples=50, deadline=None)
@given(st.integers(MAX_HOSTS, 10**12), st.integers(1, 3))
def test_ranges_past_the_cap_are_refused_without_being_built(size: int, parts: int) -> None:
    # Each range alone may fit; together they pass the cap.
    per_range = round(size ** (1 / parts)) + 1
    name = "h" + "-".join(f"[0:{per_range}]" for _ in range(parts))
    with pytest.raises(HostPatternError, match=f"{MAX_HOSTS:,}"):
        expand(name)


def test_the_largest_range_allowed_expands() -> None:
    assert len(expand(f"web[1:{MAX_HOSTS}]")) == MAX_HOSTS
