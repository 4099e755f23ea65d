"""The HTTP server the in-process test servers (webhook receiver, metrics endpoint, Kubernetes
API stand-in) are built on."""

from __future__ import annotations

import sys
from http.server import ThreadingHTTPServer
from typing import Any


class LoopbackHTTPServer(ThreadingHTTPServer):
    """A threading HTTP server that keeps quiet when a client hangs up mid-reply.

    Tests hang up on purpose (timeouts, size bounds) and Prometheus gives up on slow scrapes.
    socketserver prints such errors to ``sys.stderr``, and whichever test happens to run then
    reads them as its own output: click's CliRunner swaps ``sys.stderr`` for the whole process.
    """

    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)
