"""Host ranges expand as Ansible's do, in time linear in the hosts, and are refused past the cap."""

from __future__ import annotations

import itertools
import string

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.errors import HostPatternError
from inventory.hostpatterns import expand, expand_entry, has_range, parse_address
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


@pytest.mark.parametrize(
    ("entry", "address"),
    [
        ("web1.example.com", ("web1.example.com", None)),
        ("web1.example.com:2222", ("web1.example.com", 2222)),
        ("web[01:20].example.com:22", ("web[01:20].example.com", 22)),
        ("10.0.0.[1:3]", ("10.0.0.[1:3]", None)),
        ("10.0.0.1:2200", ("10.0.0.1", 2200)),
        ("[2001:db8::1]:22", ("2001:db8::1", 22)),
        ("[2001:db8::1]", ("2001:db8::1", None)),
        ("2001:db8::1", ("2001:db8::1", None)),
    ],
)
def test_an_entry_splits_into_its_name_and_port(entry: str, address: tuple[str, int | None]) -> None:
    assert parse_address(entry) == address


@pytest.mark.parametrize("entry", ["web one", "a:b", "web:port", ""])
def test_an_entry_that_is_no_address_is_refused_naming_it(entry: str) -> None:
    with pytest.raises(ValueError, match=f"not a host address: {entry!r}"):
        parse_address(entry)


def test_an_inventory_entry_expands_with_its_port_and_a_bad_one_is_kept_as_its_name() -> None:
    assert expand_entry("web[1:3]:2222") == (["web1", "web2", "web3"], 2222)
    assert expand_entry("web one") == (["web one"], None)


@pytest.mark.parametrize(
    ("name", "ranged"),
    [("web[1:3]", True), ("db-[a:f]", True), ("web[:3]", True), ("web[1:9:2]", True), ("web[1]", False), ("web", False), ("x[a:bc]", False)],
)
def test_a_range_is_recognised_only_in_its_forms(name: str, ranged: bool) -> None:
    assert has_range(name) is ranged


@pytest.mark.parametrize(
    ("name", "hosts"),
    [
        ("web[:2]", ["web0", "web1", "web2"]),
        ("web[0:4:2]", ["web0", "web2", "web4"]),
        ("web[08:10]", ["web08", "web09", "web10"]),
        ("db-[A:C]", ["db-A", "db-B", "db-C"]),
        ("db-[a:e:2]", ["db-a", "db-c", "db-e"]),
        ("web[3:3]", ["web3"]),
    ],
)
def test_ranges_at_their_edges(name: str, hosts: list[str]) -> None:
    assert expand(name) == hosts


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("web[1:3:0]", "host range [1:3:0] must have a positive step"),
        ("db-[f:a]", "host range [f:a] must have begin <= end"),
        ("web[01:100]", "host range [01:100] must give begin and end in the same width"),
    ],
)
def test_bad_ranges_are_refused_saying_why(name: str, message: str) -> None:
    with pytest.raises(HostPatternError) as raised:
        expand(name)
    assert str(raised.value) == message
