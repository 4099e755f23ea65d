"""Regular expressions a user writes (check expectations, metrics label matchers, alert
matchers), compiled with RE2: matching takes time linear in the text, whatever the pattern.
RE2 is imported on first use."""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING, Annotated

from pydantic import AfterValidator

if TYPE_CHECKING:
    import re2


@lru_cache(maxsize=256)
def user_regex(pattern: str) -> re2._Regexp:
    """A user's pattern compiled with RE2, which matches in time linear in the text (no
    backtracking, so `^(a+)+$` cannot hang a check). RE2 has Python's syntax less
    backreferences and lookaround; re2.error when the pattern is not one it takes."""
    import re2

    options = re2.Options()
    options.log_errors = False  # the error is ours to report, not RE2's to print on stderr
    return re2.compile(pattern, options)


def valid_regex(pattern: str) -> str:
    """The pattern itself, or ValueError saying why RE2 cannot take it."""
    import re2

    try:
        user_regex(pattern)
    except re2.error as exc:
        reason = exc.args[0].decode(errors="replace") if exc.args and isinstance(exc.args[0], bytes) else exc
        raise ValueError(
            f"not a valid regular expression (RE2 syntax: no backreferences or lookaround): {reason}"
        ) from None
    return pattern


Regex = Annotated[str, AfterValidator(valid_regex)]
"""A regular expression (RE2 syntax: Python's less backreferences and lookaround), refused
at validation time when RE2 cannot take it."""
