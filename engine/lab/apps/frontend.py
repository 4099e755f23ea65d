"""The lab's frontend: answers `GET /` with a page naming its API (NEXT_PUBLIC_API_URL)."""

from __future__ import annotations

import os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Handler(BaseHTTPRequestHandler):
    """Every path is the single-page app's shell."""

    def do_GET(self) -> None:
        api = os.environ.get("NEXT_PUBLIC_API_URL", "")
        body = f"<!doctype html><title>CoffeeStudio</title><body data-api='{api}'>".encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        return None


if __name__ == "__main__":
    ThreadingHTTPServer(("0.0.0.0", 3000), Handler).serve_forever()
