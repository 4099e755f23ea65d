"""Host entries as inventories write them: ``web[01:20].example.com``, ``db-[a:f]``,
``host:2222``, ``[2001:db8::1]:22``.

Ansible's documented rules: a numeric range ``[start:end]`` or ``[start:end:step]`` is
inclusive; a start with a leading zero pads every number to its width (start and end must
then be the same width); an alphabetic range ``[a:f]`` runs over single letters; an entry may
hold several ranges; a trailing ``:port`` sets ``ansible_port``.
"""

from __future__ import annotations

import itertools
import re
import string

from engine.errors import HostPatternError
from inventory.model import MAX_HOSTS

_RANGE = r"\[(?:[0-9]*:[0-9]+|[a-zA-Z]:[a-zA-Z])(?::[0-9]+)?\]"
_LABEL = rf"(?:[\w\-]|{_RANGE})+"
_HOSTNAME = re.compile(rf"^({_LABEL}(?:\.{_LABEL})*)(?::([0-9]+))?$")
_IPV4 = re.compile(
    r"^((?:[0-9]{1,3}|" + _RANGE + r")(?:\.(?:[0-9]{1,3}|" + _RANGE + r")){3})"
    r"(?::([0-9]+))?$"
)
_BRACKETED_IPV6 = re.compile(r"^\[([0-9a-fA-F:.%]+)\](?::([0-9]+))?$")
_BARE_IPV6 = re.compile(r"^[0-9a-fA-F]*:[0-9a-fA-F:.%]*$")


def parse_address(entry: str) -> tuple[str, int | None]:
    """Split a host entry into its name (ranges still unexpanded) and optional port.

    Raises ValueError when the entry is not a recognisable address, hostname or range.
    """
    for regex in (_BRACKETED_IPV6, _IPV4, _HOSTNAME):
        match = regex.match(entry)
        if match:
            port = match.group(2)
            return match.group(1), int(port) if port else None
    if entry.count(":") >= 2 and _BARE_IPV6.match(entry):
        return entry, None
    raise ValueError(f"not a host address: {entry!r}")


def has_range(name: str) -> bool:
    """Whether a host name holds a ``[x:y]`` range to expand."""
    return bool(re.search(_RANGE, name))


def expand(name: str) -> list[str]:
    """Every host name a range expands to (the name itself when it holds no range).

    Refuses a name that would expand to more than MAX_HOSTS before building any of them."""
    matches = list(re.finditer(_RANGE, name))
    if not matches:
        return [name]
    choices: list[list[str]] = []
    count, last = 1, 0
    for match in matches:
        items = _range_items(match)
        count *= len(items)
        if count > MAX_HOSTS:
            raise HostPatternError(
                f"host entry {name!r} expands to more than {MAX_HOSTS:,} hosts; "
                f"an inventory holds at most {MAX_HOSTS:,}"
            )
        choices.extend(([name[last : match.start()]], items))
        last = match.end()
    choices.append([name[last:]])
    return ["".join(parts) for parts in itertools.product(*choices)]


def _range_items(match: re.Match[str]) -> list[str]:
    """The values of one ``[begin:end(:step)]`` range, refused past MAX_HOSTS values."""
    bounds = match.group(0)[1:-1].split(":")
    begin, end = bounds[0], bounds[1]
    step = int(bounds[2]) if len(bounds) == 3 else 1
    if step < 1:
        raise HostPatternError(f"host range {match.group(0)} must have a positive step")
    items: list[str]
    if begin.isalpha() or end.isalpha():
        letters = string.ascii_letters
        i_begin, i_end = letters.index(begin), letters.index(end)
        if i_begin > i_end:
            raise HostPatternError(f"host range {match.group(0)} must have begin <= end")
        items = list(letters[i_begin : i_end + 1 : step])
    else:
        begin = begin or "0"
        width = len(begin) if begin.startswith("0") and len(begin) > 1 else 0
        if width and width != len(end):
            raise HostPatternError(f"host range {match.group(0)} must give begin and end in the same width")
        numbers = range(int(begin), int(end) + 1, step)
        if len(numbers) > MAX_HOSTS:
            raise HostPatternError(
                f"host range {match.group(0)} expands to {len(numbers):,} hosts; "
                f"an inventory holds at most {MAX_HOSTS:,}"
            )
        items = [str(n).zfill(width) for n in numbers]
    return items


def expand_entry(entry: str) -> tuple[list[str], int | None]:
    """The hosts and port of an inventory host entry (``web[1:3]:2222``)."""
    try:
        pattern, port = parse_address(entry)
    except ValueError:
        # Not an address Ansible recognises: it keeps the entry as the host name.
        pattern, port = entry, None
    return expand(pattern), port
