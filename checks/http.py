"""`http`: an HTTP endpoint answers with the expected status, JSON fields, body and latency."""

from __future__ import annotations

import json
import re
import time
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import BeforeValidator, Field, WithJsonSchema, field_validator

from checks.base import Check
from checks.expectations import Regex
from engine.context import ProbeContext
from engine.durations import Duration
from engine.registry import check_type
from engine.results import CheckResult

StatusCodes = Annotated[
    list[int],
    BeforeValidator(lambda v: v if isinstance(v, list) else [v]),
    WithJsonSchema({"anyOf": [{"type": "integer"}, {"type": "array", "items": {"type": "integer"}}]}),
]


@check_type("http")
class HttpCheck(Check):
    """Sends one request and compares the answer. Redirects are not followed, so a login
    redirect is not mistaken for health."""

    url: str = Field(description="http:// or https:// URL")
    method: str = Field("GET", description="HTTP method")
    status: StatusCodes = Field([200], description="expected status code, or a list of them")
    json_fields: dict[str, Any] | None = Field(
        None,
        alias="json",
        description="fields the JSON body must contain with these values "
        "(dotted keys reach into nested objects: `db.status`)",
    )
    body_regex: Regex | None = Field(None, description="a regular expression the body must match")
    max_latency: Duration | None = Field(None, description="slower answers are unhealthy even when correct")
    headers: dict[str, str] = Field(default_factory=dict, description="request headers")
    verify_tls: bool = Field(True, description="verify the server's TLS certificate")
    via_host: bool = Field(
        False,
        description="reach the URL as the target host sees it (through its transport) "
        "instead of from the controller",
    )

    model_config = {"populate_by_name": True}

    @field_validator("url")
    @classmethod
    def _is_http_url(cls, url: str) -> str:
        from engine.clients.http import validate_http_url

        return validate_http_url(url)

    def probe(self, ctx: ProbeContext) -> CheckResult:
        import urllib3

        parts = urlsplit(self.url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
        host, port = ctx.endpoint(parts.hostname or "", port, via_host=self.via_host)
        pool: urllib3.HTTPConnectionPool
        if parts.scheme == "https":
            pool = urllib3.HTTPSConnectionPool(
                host,
                port,
                timeout=urllib3.Timeout(total=self.timeout),
                retries=False,
                cert_reqs="CERT_REQUIRED" if self.verify_tls else "CERT_NONE",
            )
        else:
            pool = urllib3.HTTPConnectionPool(
                host, port, timeout=urllib3.Timeout(total=self.timeout), retries=False
            )
        path = parts.path or "/"
        if parts.query:
            path += "?" + parts.query
        started = time.monotonic()
        try:
            response = pool.request(
                self.method, path, headers={"Host": parts.netloc, **self.headers}, redirect=False
            )
        except urllib3.exceptions.HTTPError as exc:
            return CheckResult.unhealthy(f"{self.method} {self.url}: {_root_cause(exc)}", url=self.url)
        finally:
            pool.close()
        latency = time.monotonic() - started
        return self._judge(response.status, response.data.decode(errors="replace"), latency)

    def _judge(self, status: int, body: str, latency: float) -> CheckResult:
        evidence: dict[str, Any] = {"status": status, "latency_ms": round(latency * 1000, 1)}
        expected = self.status
        if status not in expected:
            return CheckResult.unhealthy(
                f"status {status}, expected {' or '.join(map(str, expected))}",
                body=body[:200],
                **evidence,
            )
        if self.json_fields is not None:
            mismatch = _json_mismatch(body, self.json_fields)
            if mismatch:
                return CheckResult.unhealthy(mismatch, body=body[:200], **evidence)
        if self.body_regex and not re.search(self.body_regex, body):
            return CheckResult.unhealthy(f"body does not match /{self.body_regex}/", **evidence)
        if self.max_latency is not None and latency > self.max_latency:
            return CheckResult.unhealthy(
                f"answered in {latency * 1000:.0f}ms, more than {self.max_latency * 1000:.0f}ms",
                **evidence,
            )
        return CheckResult.healthy(f"status {status}", **evidence)


def _json_mismatch(body: str, expected: dict[str, Any]) -> str | None:
    try:
        document = json.loads(body)
    except ValueError:
        return "body is not JSON"
    for dotted, want in expected.items():
        value: Any = document
        for key in dotted.split("."):
            if not isinstance(value, dict) or key not in value:
                return f"JSON has no field {dotted!r}"
            value = value[key]
        if value != want and str(value) != str(want):
            return f"JSON field {dotted!r} is {value!r}, expected {want!r}"
    return None


def _root_cause(exc: BaseException) -> str:
    reason = getattr(exc, "reason", None)
    while isinstance(reason, BaseException) and getattr(reason, "reason", None) is not None:
        reason = reason.reason  # type: ignore[attr-defined]
    text = str(reason or exc)
    if "Connection refused" in text:
        return "connection refused"
    if "timed out" in text.lower():
        return "timed out"
    return text
