"""Real local processes for the engine to check and heal: an HTTP service and a TCP listener,
each a subprocess on a free loopback port that a test can start, kill and break."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

HTTP_SERVER = r"""
import json, sys, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
port, state_file = int(sys.argv[1]), sys.argv[2]

class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        try:
            state = open(state_file).read().strip() or "ok"
        except OSError:
            state = "ok"
        if state.startswith("slow"):
            time.sleep(float(state.split()[1]))
            state = "ok"
        status = 200 if state == "ok" else 500
        body = json.dumps({"status": state}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass

ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()
"""

TCP_LISTENER = r"""
import socket, sys
server = socket.create_server(("127.0.0.1", int(sys.argv[1])))
while True:
    connection, _ = server.accept()
    connection.close()
"""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_for_port(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.02)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port}")


class Service:
    """A subprocess listening on a loopback port. `start_command` is a shell line that starts
    it detached (for playbooks to use as their remediation)."""

    def __init__(self, kind: str, workdir: Path, port: int | None = None) -> None:
        self.port = port or free_port()
        self.workdir = workdir
        self.state_file = workdir / f"{kind}-{self.port}.state"
        self.pid_file = workdir / f"{kind}-{self.port}.pid"
        self.script = workdir / f"service_{kind}.py"  # not http.py: it would shadow the stdlib
        self.script.write_text(HTTP_SERVER if kind == "http" else TCP_LISTENER)
        self.starts_file = workdir / f"{kind}-{self.port}.starts"

    @property
    def start_command(self) -> str:
        """Starts the service unless it already runs (idempotent), counting starts."""
        return (
            f"if ! {sys.executable} -c 'import socket; socket.create_connection((\"127.0.0.1\", {self.port}), 1)' "
            f"2>/dev/null; then echo start >> {self.starts_file}; "
            f"nohup {sys.executable} {self.script} {self.port} {self.state_file} >/dev/null 2>&1 & "
            f"echo $! > {self.pid_file}; fi"
        )

    @property
    def restart_command(self) -> str:
        """Kills the service if it runs, then starts it."""
        return f"{self.kill_command}; sleep 0.1; {self.start_command}"

    @property
    def kill_command(self) -> str:
        return (
            f"[ -f {self.pid_file} ] && kill $(cat {self.pid_file}) 2>/dev/null; rm -f {self.pid_file}; true"
        )

    @property
    def starts(self) -> int:
        return len(self.starts_file.read_text().split()) if self.starts_file.exists() else 0

    def start(self) -> Service:
        subprocess.run(["sh", "-c", self.start_command], check=True)
        wait_for_port(self.port)
        return self

    def stop(self) -> None:
        subprocess.run(["sh", "-c", self.kill_command], check=True)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and self.is_up():
            time.sleep(0.02)

    def is_up(self) -> bool:
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
            return True
        except OSError:
            return False

    def set_state(self, state: str) -> None:
        """For HTTP services: `ok`, anything else (500 with that status), or `slow N`."""
        self.state_file.write_text(state)
