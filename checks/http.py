"""`http`: an HTTP endpoint answers with the expected status, JSON fields, body and latency."""

from __future__ import annotations

import json
import time
from typing import Annotated, Any

from pydantic import BeforeValidator, Field, WithJsonSchema, field_validator

from checks.base import Check
from checks.expectations import regex_search
from engine.clients.http import HttpAnswer, http_request, validate_http_url
from engine.clients.sizes import BODY_HEAD, BODY_TAIL
from engine.errors import HttpFetchError
from engine.kit import CheckResult, Duration, ProbeContext, Regex, check_type

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
        return validate_http_url(url)

    def probe(self, ctx: ProbeContext) -> CheckResult:
        started = time.monotonic()
        try:
            answer = http_request(
                ctx,
                self.url,
                timeout=self.timeout,
                method=self.method,
                headers=self.headers,
                via_host=self.via_host,
                verify_tls=self.verify_tls,
            )
        except HttpFetchError as exc:
            return CheckResult.unhealthy(f"{self.method} {self.url}: {exc}", url=self.url)
        latency = time.monotonic() - started
        return self._judge(answer, latency)

    def _judge(self, answer: HttpAnswer, latency: float) -> CheckResult:
        status, body = answer.status, answer.body
        evidence: dict[str, Any] = {"status": status, "latency_ms": round(latency * 1000, 1)}
        if answer.truncated:
            evidence["body_bytes"] = answer.size
        expected = self.status
        if status not in expected:
            return CheckResult.unhealthy(
                f"status {status}, expected {' or '.join(map(str, expected))}",
                body=body[:200],
                **evidence,
            )
        if self.json_fields is not None and answer.truncated:
            return CheckResult.unhealthy(
                f"body of {answer.size} bytes is too long to read as JSON "
                f"(at most {BODY_HEAD + BODY_TAIL} bytes are kept)",
                **evidence,
            )
        if self.json_fields is not None:
            mismatch = _json_mismatch(body, self.json_fields)
            if mismatch:
                return CheckResult.unhealthy(mismatch, body=body[:200], **evidence)
        if self.body_regex and not regex_search(self.body_regex, body):
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
