"""A plain HTTP GET for types that read a document over HTTP (metrics, prometheus_query)."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode, urlsplit

from engine.context import ProbeContext


class HttpFetchError(Exception):
    """No HTTP answer: refused, timed out, unreachable."""


@dataclass(frozen=True)
class HttpAnswer:
    status: int
    body: str


def validate_http_url(url: str) -> str:
    """The URL itself, or ValueError when it is not http(s)://host[:port]..."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"expected an http:// or https:// URL, got {url!r}")
    validate_url_port(url)
    return url


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
    """GET `url` (redirects not followed) within `timeout` seconds in total."""
    import urllib3

    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    host, port = ctx.endpoint(parts.hostname or "", port, via_host=via_host)
    timeout_config = urllib3.Timeout(total=timeout)
    pool: urllib3.HTTPConnectionPool
    if parts.scheme == "https":
        pool = urllib3.HTTPSConnectionPool(
            host,
            port,
            timeout=timeout_config,
            retries=False,
            cert_reqs="CERT_REQUIRED" if verify_tls else "CERT_NONE",
        )
    else:
        pool = urllib3.HTTPConnectionPool(host, port, timeout=timeout_config, retries=False)
    path = parts.path or "/"
    query = "&".join(q for q in (parts.query, urlencode(params or {})) if q)
    if query:
        path += "?" + query
    try:
        response = pool.request("GET", path, headers={"Host": parts.netloc}, redirect=False)
    except urllib3.exceptions.HTTPError as exc:
        raise HttpFetchError(_root_cause(exc)) from exc
    finally:
        pool.close()
    return HttpAnswer(response.status, response.data.decode(errors="replace"))


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
