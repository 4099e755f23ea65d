"""A webhook receiver on 127.0.0.1 for notification tests."""

from __future__ import annotations

import itertools
import json
import threading
from http.server import BaseHTTPRequestHandler
from typing import Any

from tests.support.http_server import LoopbackHTTPServer


class Receiver:
    """A webhook receiver on 127.0.0.1 that answers 500 to the first `failures` requests;
    with `endless_reply`, a taken message is answered 200 with a body that never ends; with
    `drip`, every request is answered one byte of status line at a time, without end."""

    def __init__(self, failures: int = 0, endless_reply: bool = False, drip: bool = False) -> None:
        self.failures = failures
        self.stopping = threading.Event()
        self.requests: list[tuple[int, dict[str, str], dict[str, Any]]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                if drip:
                    self._drip()
                    return
                status = 500 if len(receiver.requests) < receiver.failures else 204
                receiver.requests.append((status, dict(self.headers), body))
                if endless_reply and status < 300:
                    self._reply_forever()
                    return
                self.send_response(status)
                self.end_headers()

            def _drip(self) -> None:
                try:
                    for byte in itertools.cycle(b"HTTP/1.1 200 "):
                        if receiver.stopping.wait(0.05):
                            return
                        self.wfile.write(bytes([byte]))
                        self.wfile.flush()
                except OSError:
                    pass  # the client hung up, as it should

            def _reply_forever(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/plain")
                self.end_headers()
                try:
                    while not receiver.stopping.wait(0.01):
                        self.wfile.write(b"x" * 65536)
                except OSError:
                    pass  # the client hung up, as it should

            def log_message(self, *args: Any) -> None:
                pass

        self.server = LoopbackHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def delivered(self) -> list[dict[str, Any]]:
        return [body for status, _, body in self.requests if status < 300]

    @property
    def events(self) -> list[str]:
        return [body["event"] for body in self.delivered]

    def close(self) -> None:
        self.stopping.set()
        self.server.shutdown()
        self.server.server_close()
