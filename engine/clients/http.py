"""One HTTP request within a total deadline, for every type that speaks HTTP (the http check,
metrics, prometheus_query) and for webhook notifications.

urllib3's own timeouts restart with every byte received, so a server that drips its answer
would hold a check far past its timeout; here a timer cuts the socket at the deadline, and the
body is streamed through a bounded head-and-tail buffer (engine.clients.sizes)."""

from __future__ import annotations

import base64
import contextlib
import http.client
import socket
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import SplitResult, unquote, urlencode, urlsplit

from engine.clients.sizes import BODY_HEAD, BODY_TAIL, DOCUMENT_MAX, READ_CHUNK, HeadTail
from engine.core.context import ProbeContext
from engine.errors import HttpFetchError


@dataclass(frozen=True)
class HttpAnswer:
    """A status and the body (its head and tail when it was longer than the sizes kept)."""

    status: int
    body: str
    size: int = 0
    """Bytes of body received, kept or not."""
    truncated: bool = False
    """The body was longer than BODY_HEAD + BODY_TAIL: `body` is its head and tail."""


def validate_http_url(url: str) -> str:
    """The URL itself, or ValueError when it is not http(s)://host[:port]..."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"expected an http:// or https:// URL, got {url!r}")
    validate_url_port(url)
    return url


def url_headers(parts: SplitResult) -> dict[str, str]:
    """The Host header of a URL without its user info, and Basic auth from the user info
    (percent-decoded). Credentials never go into Host, where servers log them."""
    headers = {"Host": parts.netloc.rpartition("@")[2]}
    if parts.username is not None or parts.password is not None:
        credentials = f"{unquote(parts.username or '')}:{unquote(parts.password or '')}"
        # UTF-8 (RFC 7617); urllib3's make_headers encodes latin-1 only.
        headers["Authorization"] = "Basic " + base64.b64encode(credentials.encode()).decode()
    return headers


def http_request(
    ctx: ProbeContext | None,
    url: str,
    *,
    timeout: float,
    method: str = "GET",
    headers: Mapping[str, str] | None = None,
    via_host: bool = False,
    verify_tls: bool = True,
    params: dict[str, str] | None = None,
    whole: bool = False,
    body: bytes | None = None,
    read_body: bool = True,
) -> HttpAnswer:
    """Send one request (redirects not followed) and read the answer, all within `timeout`
    seconds. With `whole`, a body longer than DOCUMENT_MAX is an error (the caller parses it
    whole); otherwise its head and tail are kept; without `read_body`, only the status is
    read. `ctx` is None for a request from the controller itself (a notification)."""
    from urllib3.connection import HTTPConnection, HTTPSConnection
    from urllib3.exceptions import HTTPError

    deadline = time.monotonic() + timeout
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    host = parts.hostname or ""
    if ctx is not None:
        host, port = ctx.endpoint(host, port, via_host=via_host)
    conn: HTTPConnection
    if parts.scheme == "https":
        conn = HTTPSConnection(
            host,
            port,
            timeout=timeout,
            cert_reqs="CERT_REQUIRED" if verify_tls else "CERT_NONE",
            # The certificate is the URL's host's, also when it is reached through a forward.
            server_hostname=parts.hostname,
        )
    else:
        conn = HTTPConnection(host, port, timeout=timeout)
    path = parts.path or "/"
    query = "&".join(q for q in (parts.query, urlencode(params or {})) if q)
    if query:
        path += "?" + query
    cut = _Cutter(conn)
    timer = threading.Timer(max(0.0, deadline - time.monotonic()), cut)
    timer.start()
    try:
        conn.request(
            method, path, body=body, headers={**url_headers(parts), **(headers or {})}, preload_content=False
        )
        response = conn.getresponse()
        received = HeadTail(BODY_HEAD, BODY_TAIL) if not whole else HeadTail(DOCUMENT_MAX, 0)
        for chunk in response.stream(READ_CHUNK) if read_body else ():
            received.write(chunk)
            if cut.fired:
                break
            if whole and received.truncated:
                raise HttpFetchError(f"body larger than {DOCUMENT_MAX} bytes")
    except (HTTPError, OSError, http.client.HTTPException) as exc:
        raise HttpFetchError("timed out" if cut.fired else _root_cause(exc)) from None
    finally:
        timer.cancel()
        timer.join()
        conn.close()
    if cut.fired:  # the cut socket may look like the end of a body without a length
        raise HttpFetchError("timed out")
    return HttpAnswer(response.status, received.text(), received.total, received.truncated)


def validate_url_port(url: str) -> None:
    """ValueError when a URL's port is not a number from 1 to 65535: urllib only finds out
    when the port is read, which would otherwise be at run time."""
    try:
        port = urlsplit(url).port
    except ValueError:
        port = -1
    if port is not None and not 1 <= port <= 65535:
        raise ValueError(f"the URL's port must be a number from 1 to 65535, got {url!r}")


def http_get(
    ctx: ProbeContext,
    url: str,
    *,
    timeout: float,
    via_host: bool = False,
    verify_tls: bool = True,
    params: dict[str, str] | None = None,
) -> HttpAnswer:
    """GET a document to parse whole (at most DOCUMENT_MAX bytes) within `timeout` seconds."""
    return http_request(
        ctx, url, timeout=timeout, via_host=via_host, verify_tls=verify_tls, params=params, whole=True
    )


class _Cutter:
    """Shuts the connection's socket down when called: a read blocked in any phase (TLS
    handshake, headers, body) returns at once."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn
        self.fired = False

    def __call__(self) -> None:
        self.fired = True
        sock = self.conn.sock
        if sock is not None:
            # socket.socket's own shutdown: an SSLSocket's would start a TLS close instead.
            with contextlib.suppress(OSError):
                socket.socket.shutdown(sock, socket.SHUT_RDWR)


def _root_cause(exc: BaseException) -> str:
    reason: object = getattr(exc, "reason", None) or exc
    # urllib3 wraps the socket error one or two levels deep (MaxRetryError -> NewConnectionError).
    while isinstance(reason, BaseException):
        inner = getattr(reason, "reason", None)
        if inner is None:
            break
        reason = inner
    text = str(reason)
    if "refused" in text.lower():
        return "connection refused"
    if "timed out" in text.lower() or "timeout" in text.lower():
        return "timed out"
    return text
