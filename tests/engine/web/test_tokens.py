"""Tokens: read from a file only its owner can read, or the environment; sessions and CSRF
tokens signed with the operator's token."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.errors import TokenError
from engine.secrets.redact import REDACTOR
from engine.web.tokens import Sessions, bearer, new_token, read_token

GOOD = "0123456789abcdef-token"


def test_a_world_readable_token_file_is_refused_with_the_chmod_that_fixes_it(tmp_path: Path) -> None:
    file = tmp_path / "token"
    file.write_text(GOOD)
    file.chmod(0o644)
    with pytest.raises(TokenError, match=rf"readable by every user; fix it with: chmod 600 {file}"):
        read_token(str(file), "UNSET_VARIABLE", "operator token")


def test_a_token_file_only_its_owner_reads_is_read_and_masked_from_then_on(tmp_path: Path) -> None:
    file = tmp_path / "token"
    file.write_text(GOOD + "\n")
    file.chmod(0o600)
    assert read_token(str(file), "UNSET_VARIABLE", "operator token") == GOOD
    assert GOOD not in REDACTOR.text(f"token={GOOD} and {GOOD}")


def test_the_environment_variable_is_read_when_no_file_is_given(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOME_TOKEN", GOOD)
    assert read_token(None, "SOME_TOKEN", "token") == GOOD
    monkeypatch.delenv("SOME_TOKEN")
    assert read_token(None, "SOME_TOKEN", "token") is None


def test_a_short_token_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOME_TOKEN", "short")
    with pytest.raises(TokenError, match="shorter than 16 characters"):
        read_token(None, "SOME_TOKEN", "token")


def test_a_new_token_is_long_and_fresh() -> None:
    assert len(new_token()) >= 40 and new_token() != new_token()


def test_only_a_bearer_header_carries_a_token() -> None:
    assert bearer("Bearer abc") == "abc"
    assert bearer("bearer  abc ") == "abc"
    assert bearer("Basic abc") is None and bearer(None) is None


def test_a_session_and_its_csrf_token_are_valid_together() -> None:
    sessions = Sessions(GOOD)
    cookie = sessions.new()
    assert sessions.valid(cookie, sessions.csrf(cookie))
    assert not sessions.valid(cookie, Sessions(GOOD).csrf(sessions.new()))  # another session's
    assert not Sessions("another-token-entirely").valid(cookie, sessions.csrf(cookie))


@given(cookie=st.text(max_size=120), csrf=st.text(max_size=80))
def test_no_forged_cookie_or_csrf_token_is_valid(cookie: str, csrf: str) -> None:
    sessions = Sessions(GOOD)
    assert not sessions.valid(cookie, csrf)
    genuine = sessions.new()
    assert not sessions.valid(genuine, csrf) or csrf == sessions.csrf(genuine)
