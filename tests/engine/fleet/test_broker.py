"""The broker URL and the fleet commands' bad input: exit 2 with a clear error before anything
starts, a retrying warning for a broker that does not answer, and no password in any of it."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.errors import BrokerError
from engine.fleet.broker import check_broker_url
from tests.servers.state_postgres import StatePostgres
from tests.support.cli import remediate, start
from tests.support.services import free_port

PLAYBOOK = "name: tiny\nhosts: all\nchecks:\n  alive:\n    command: {cmd: 'true'}\n"


@pytest.mark.parametrize(
    "url",
    ["redis://:pw@127.0.0.1:6379/0", "rediss://h:6380/1", "amqp://u:p@rabbit:5672//", "pyamqp://h//", "memory://"],
)
def test_broker_urls_of_known_transports_are_accepted(url: str) -> None:
    assert check_broker_url(url) == url


@pytest.mark.parametrize(
    ("url", "said"),
    [
        ("127.0.0.1:6379", "unknown transport"),
        ("http://h:6379/0", "unknown transport 'http'"),
        ("redis://h:99999/0", "malformed"),
        ("redis://[::zz]/0", "malformed"),
        ("redis:///0", "no host"),
        ("redis://h/zero", "a Redis database is a number"),
    ],
)
def test_a_malformed_broker_url_is_refused_saying_why(url: str, said: str) -> None:
    with pytest.raises(BrokerError, match=said) as raised:
        check_broker_url(url)
    assert str(raised.value).startswith("--broker")


secrets = st.text(st.characters(codec="ascii", categories=("L", "N")), min_size=8, max_size=30)


@given(secrets, st.sampled_from(["http", "redis", "ftp"]), st.sampled_from([":99999", "/", ":0", ""]))
def test_no_error_about_a_broker_url_repeats_its_password(password: str, scheme: str, tail: str) -> None:
    url = f"{scheme}://user:{password}@broker{tail}/db"
    try:
        check_broker_url(url)
    except BrokerError as exc:
        assert password not in str(exc)


def write(tmp_path: Path) -> Path:
    (tmp_path / "site.yml").write_text(PLAYBOOK)
    return tmp_path / "site.yml"


@pytest.mark.parametrize("command", ["worker", "daemon"])
def test_a_malformed_broker_url_exits_2_before_anything_starts(tmp_path: Path, command: str) -> None:
    done = remediate(
        command, write(tmp_path), "--broker", "redis://:s3cr3t-pass@host:99999/0", state=tmp_path / "s.db", cwd=tmp_path
    )
    assert done.returncode == 2
    assert "error: --broker: malformed URL" in done.stderr and "Traceback" not in done.stderr
    assert "s3cr3t-pass" not in done.stderr + done.stdout


@pytest.mark.parametrize("command", ["worker", "daemon"])
def test_a_fleet_needs_a_postgresql_store(tmp_path: Path, command: str) -> None:
    done = remediate(command, write(tmp_path), "--broker", "redis://127.0.0.1:6379/0", state=tmp_path / "s.db", cwd=tmp_path)
    assert done.returncode == 2
    assert "--broker needs --state postgresql://" in done.stderr


@pytest.mark.slow
@pytest.mark.parametrize("command", ["worker", "daemon"])
def test_an_unreachable_broker_is_a_retrying_warning_without_its_password(
    tmp_path: Path, command: str, state_postgres: StatePostgres
) -> None:
    url = f"redis://:hunter2-broker@127.0.0.1:{free_port()}/0"
    process = start(
        command, write(tmp_path), "--broker", url, "--log-format", "json", state=state_postgres.new_database(), cwd=tmp_path
    )
    try:
        deadline = time.monotonic() + 60
        seen: list[dict[str, object]] = []
        assert process.stderr is not None
        while time.monotonic() < deadline and sum(e.get("event") == "broker unreachable, retrying" for e in seen) < 2:
            line = process.stderr.readline()
            if line.startswith("{"):
                seen.append(json.loads(line))
        retries = [e for e in seen if e.get("event") == "broker unreachable, retrying"]
        assert len(retries) >= 2 and all(e["level"] == "warning" for e in retries)
        assert process.poll() is None  # still trying
        assert "hunter2-broker" not in json.dumps(seen)
    finally:
        process.kill()
        process.communicate(timeout=10)


