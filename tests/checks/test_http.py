"""The http check against servers that misbehave on purpose: one that wants Basic auth and
echoes the headers it got, one that drips its answer a byte at a time, one with a huge body.
Each runs as a subprocess on a loopback port, so the test process's threads are the check's."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import quote, urlsplit

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from checks.http import HttpCheck
from engine.clients.http import http_get, url_headers
from engine.clients.sizes import BODY_HEAD, BODY_TAIL, DOCUMENT_MAX
from engine.core.node import Mode
from engine.core.results import CheckResult, Health
from engine.core.runner import Runner, RunSettings
from engine.errors import HttpFetchError
from tests.support.contexts import probe_context
from tests.support.playbooks import plan
from tests.support.services import Service, free_port, wait_for_port

SERVER = r"""
import json, socketserver, sys, time
port, mode, arg = int(sys.argv[1]), sys.argv[2], sys.argv[3]

class Handler(socketserver.StreamRequestHandler):
    def handle(self):
        headers = {}
        self.rfile.readline()
        while True:
            line = self.rfile.readline().decode().strip()
            if not line:
                break
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        if mode == "auth":
            good = headers.get("authorization") == arg
            body = json.dumps({"host": headers.get("host"), "authorization": headers.get("authorization")})
            status = "200 OK" if good else "401 Unauthorized"
            self.wfile.write(f"HTTP/1.1 {status}\r\nContent-Length: {len(body)}\r\n\r\n{body}".encode())
        elif mode == "drip-headers":
            for byte in b"HTTP/1.1 200 OK\r\n" + b"X-Slow: " + b"x" * 10000:
                self.wfile.write(bytes([byte]))
                self.wfile.flush()
                time.sleep(0.05)
        elif mode == "drip-body":
            self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Length: 10000\r\n\r\n")
            for _ in range(10000):
                self.wfile.write(b"x")
                self.wfile.flush()
                time.sleep(0.05)
        elif mode == "big":
            size = int(arg)
            self.wfile.write(f"HTTP/1.1 200 OK\r\nContent-Length: {size}\r\n\r\n".encode())
            chunk = b"{" + b"x" * 65535
            sent = 0
            while sent < size:
                piece = chunk[: size - sent]
                self.wfile.write(piece)
                sent += len(piece)

class Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

Server(("127.0.0.1", port), Handler).serve_forever()
"""


class MisbehavingServer:
    """A subprocess HTTP server in one of the modes of SERVER."""

    def __init__(self, workdir: Path, mode: str, arg: str = "-") -> None:
        self.port = free_port()
        script = workdir / "misbehaving_server.py"
        script.write_text(SERVER)
        self.process = subprocess.Popen([sys.executable, str(script), str(self.port), mode, arg])
        wait_for_port(self.port)

    def stop(self) -> None:
        self.process.kill()
        self.process.wait()


StartServer = Callable[..., MisbehavingServer]


@pytest.fixture
def server(tmp_path: Path) -> Iterator[StartServer]:
    started: list[MisbehavingServer] = []

    def start(mode: str, arg: str = "-") -> MisbehavingServer:
        started.append(MisbehavingServer(tmp_path, mode, arg))
        return started[-1]

    yield start
    for each in started:
        each.stop()


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def test_http_sends_basic_auth_from_the_url_user_info(server: StartServer) -> None:
    srv = server("auth", basic("u", "S3cret"))
    result = HttpCheck(url=f"http://u:S3cret@127.0.0.1:{srv.port}/").probe(probe_context())
    assert result.health is Health.HEALTHY, result.reason


def test_http_host_header_carries_no_user_info(server: StartServer) -> None:
    srv = server("auth", basic("u", "S3cret"))
    check = HttpCheck(url=f"http://u:S3cret@127.0.0.1:{srv.port}/", json={"host": f"127.0.0.1:{srv.port}"})
    result = check.probe(probe_context())
    assert result.health is Health.HEALTHY, result.reason


def test_http_percent_decodes_user_and_password(server: StartServer) -> None:
    srv = server("auth", basic("ops@example", "p:ss/w@rd"))
    url = f"http://ops%40example:p%3Ass%2Fw%40rd@127.0.0.1:{srv.port}/"
    assert HttpCheck(url=url).probe(probe_context()).is_healthy


def test_an_authorization_header_in_the_check_wins_over_the_url(server: StartServer) -> None:
    srv = server("auth", basic("real", "pw"))
    check = HttpCheck(url=f"http://u:S@127.0.0.1:{srv.port}/", headers={"Authorization": basic("real", "pw")})
    assert check.probe(probe_context()).is_healthy


@given(st.text(), st.text())
def test_url_user_info_becomes_basic_auth_and_never_the_host(user: str, password: str) -> None:
    parts = urlsplit(f"http://{quote(user, safe='')}:{quote(password, safe='')}@example.org:8080/x")
    headers = url_headers(parts)
    assert headers["Host"] == "example.org:8080"
    assert base64.b64decode(headers["Authorization"].removeprefix("Basic ")).decode() == f"{user}:{password}"


def test_a_url_without_user_info_sends_no_authorization() -> None:
    assert url_headers(urlsplit("http://[::1]:81/health")) == {"Host": "[::1]:81"}


@pytest.mark.timeout(10)
@pytest.mark.parametrize("mode", ["drip-headers", "drip-body"])
def test_a_dripping_server_times_the_check_out_and_leaves_no_thread_or_socket(
    server: StartServer, mode: str
) -> None:
    srv = server(mode)
    threads, fds = threading.active_count(), len(os.listdir("/proc/self/fd"))
    result = HttpCheck(url=f"http://127.0.0.1:{srv.port}/", timeout="1s").probe(probe_context())
    assert (result.health, result.reason) == (
        Health.UNHEALTHY,
        f"GET http://127.0.0.1:{srv.port}/: timed out",
    )
    assert (threading.active_count(), len(os.listdir("/proc/self/fd"))) == (threads, fds)


@pytest.mark.timeout(30)
def test_runs_against_a_dripping_server_do_not_pile_up_threads(server: StartServer, tmp_path: Path) -> None:
    srv = server("drip-body")
    playbook = f"""
        name: drip
        checks:
          api: {{http: {{url: "http://127.0.0.1:{srv.port}/", timeout: 1s}}}}
    """
    threads = threading.active_count()
    for _ in range(3):  # as a daemon's ticks would
        report = Runner(plan(tmp_path, playbook), RunSettings(mode=Mode.CHECK)).run()
        assert [str(n.outcome) for n in report.nodes] == ["unhealthy"]
        assert threading.active_count() == threads


@pytest.mark.timeout(60)
def test_a_huge_body_is_kept_as_its_head_and_tail(server: StartServer) -> None:
    size = 64 * 1024 * 1024
    srv = server("big", str(size))
    result = HttpCheck(url=f"http://127.0.0.1:{srv.port}/", body_regex="^\\{x", timeout="30s").probe(
        probe_context()
    )
    assert result.is_healthy, result.reason
    assert result.evidence["body_bytes"] == size


@pytest.mark.timeout(60)
def test_json_fields_of_a_body_too_long_to_keep_are_unhealthy(server: StartServer) -> None:
    size = BODY_HEAD + BODY_TAIL + 1
    srv = server("big", str(size))
    result = HttpCheck(url=f"http://127.0.0.1:{srv.port}/", json={"status": "ok"}).probe(probe_context())
    assert (result.health, result.reason) == (
        Health.UNHEALTHY,
        f"body of {size} bytes is too long to read as JSON (at most {BODY_HEAD + BODY_TAIL} bytes are kept)",
    )


@pytest.mark.timeout(60)
def test_a_document_read_whole_larger_than_its_bound_is_an_error(server: StartServer) -> None:
    srv = server("big", str(DOCUMENT_MAX + 1))
    with pytest.raises(HttpFetchError, match=f"body larger than {DOCUMENT_MAX} bytes"):
        http_get(probe_context(), f"http://127.0.0.1:{srv.port}/metrics", timeout=30)


def test_body_regex_cannot_hang_on_catastrophic_backtracking(server: StartServer) -> None:
    srv = server("big", str(51))
    # The body is "{" + 50 x: `^(\{?x+)+$` would backtrack for ages in Python's re.
    check = HttpCheck(url=f"http://127.0.0.1:{srv.port}/", body_regex=r"^(\{?x+)+y$")
    assert check.probe(probe_context()).reason == r"body does not match /^(\{?x+)+y$/"


def http(service: Service, path: str = "/health", **options: object) -> CheckResult:
    return HttpCheck(url=f"http://127.0.0.1:{service.port}{path}", **options).probe(probe_context())



def test_http_is_healthy_with_the_expected_status_and_json(http_service: Service) -> None:
    result = http(http_service, json={"status": "ok"})
    assert result.health is Health.HEALTHY
    assert result.evidence["status"] == 200


def test_http_reports_an_unexpected_status(http_service: Service) -> None:
    http_service.set_state("degraded")
    result = http(http_service)
    assert (result.health, result.reason) == (Health.UNHEALTHY, "status 500, expected 200")


def test_http_accepts_any_of_several_statuses(http_service: Service) -> None:
    http_service.set_state("degraded")
    assert http(http_service, status=[200, 500]).is_healthy


def test_http_reports_a_json_field_with_the_wrong_value(http_service: Service) -> None:
    result = http(http_service, json={"status": "green"})
    assert result.reason == "JSON field 'status' is 'ok', expected 'green'"


def test_http_reports_a_missing_json_field(http_service: Service) -> None:
    assert http(http_service, json={"db.state": "up"}).reason == "JSON has no field 'db.state'"


def test_http_checks_the_body_against_a_regex(http_service: Service) -> None:
    assert http(http_service, body_regex='"status": "ok"').is_healthy
    assert http(http_service, body_regex="healthy").reason == "body does not match /healthy/"


def test_http_is_unhealthy_when_slower_than_max_latency(http_service: Service) -> None:
    http_service.set_state("slow 0.3")
    result = http(http_service, max_latency="100ms")
    assert result.health is Health.UNHEALTHY
    assert "more than 100ms" in result.reason


def test_http_times_out(http_service: Service) -> None:
    http_service.set_state("slow 3")
    result = http(http_service, timeout="300ms")
    assert (result.health, result.reason) == (
        Health.UNHEALTHY,
        f"GET http://127.0.0.1:{http_service.port}/health: timed out",
    )


def test_http_reports_a_refused_connection() -> None:
    port = free_port()
    result = HttpCheck(url=f"http://127.0.0.1:{port}/").probe(probe_context())
    assert result.reason == f"GET http://127.0.0.1:{port}/: connection refused"


def test_http_refuses_a_url_that_is_not_http() -> None:
    with pytest.raises(ValidationError, match="expected an http:// or https:// URL"):
        HttpCheck(url="ftp://example/")
