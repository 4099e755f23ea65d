"""`prometheus_query`: an instant PromQL query against a Prometheus server stays within limits."""

from __future__ import annotations

import json
import math
from typing import Any

from pydantic import Field, field_validator

from checks.base import Check, NonBlankText
from checks.thresholds import Threshold
from engine.clients.http import http_get, validate_http_url
from engine.errors import HttpFetchError
from engine.kit import CheckResult, ProbeContext, check_type


@check_type("prometheus_query")
class PrometheusQueryCheck(Check, Threshold):
    """Asks Prometheus's HTTP API (`/api/v1/query`) for an instant query, such as the
    runbook's alert expressions, and compares every returned series with `max`/`min`.
    Unhealthy names the series that break a limit. A query Prometheus rejects, an
    unreachable Prometheus and a range (matrix) result are errors: they say nothing about
    the service."""

    url: str = Field(description="Prometheus base URL, e.g. http://prom.localhost:9090")
    query: NonBlankText = Field(
        description='PromQL, e.g. `sum(rate(http_requests_total{status=~"5.."}[5m])) / '
        "sum(rate(http_requests_total[5m]))`"
    )
    via_host: bool = Field(False, description="reach the URL as the target host sees it")
    verify_tls: bool = Field(True, description="verify the server's TLS certificate")

    @field_validator("url")
    @classmethod
    def _http_url(cls, url: str) -> str:
        return validate_http_url(url).rstrip("/")

    def probe(self, ctx: ProbeContext) -> CheckResult:
        evidence: dict[str, Any] = {"query": self.query}
        try:
            answer = http_get(
                ctx,
                f"{self.url}/api/v1/query",
                timeout=self.timeout,
                via_host=self.via_host,
                verify_tls=self.verify_tls,
                params={"query": self.query, "timeout": f"{max(self.timeout, 0.001):g}s"},
            )
        except HttpFetchError as exc:
            return CheckResult.error(f"cannot query Prometheus at {self.url}: {exc}", **evidence)
        try:
            document = json.loads(answer.body)
        except ValueError:
            return CheckResult.error(
                f"Prometheus at {self.url} answered status {answer.status} without JSON", **evidence
            )
        if not isinstance(document, dict) or document.get("status") != "success":
            error = document.get("error") if isinstance(document, dict) else None
            return CheckResult.error(
                f"Prometheus rejected the query (status {answer.status}): {error or answer.body[:200]}",
                **evidence,
            )
        data = document.get("data") or {}
        series = _series(data)
        if series is None:
            return CheckResult.error(
                f"the query returns a {data.get('resultType')}; use an instant vector or scalar",
                **evidence,
            )
        series = [(labels, value) for labels, value in series if not math.isnan(value)]
        if not series:
            return self._no_data(evidence)
        evidence["values"] = {_name(labels): value for labels, value in series}
        broken = [(labels, problem) for labels, value in series if (problem := self.violation(value))]
        if broken:
            detail = "; ".join(f"{_name(labels)} {problem}" for labels, problem in broken[:5])
            return CheckResult.unhealthy(detail, **evidence)
        values = ", ".join(f"{value:g}" for _, value in series[:5])
        return CheckResult.healthy(f"{len(series)} series within limits ({values})", **evidence)

    def _no_data(self, evidence: dict[str, Any]) -> CheckResult:
        reason = "the query returned no data"
        if self.on_no_data == "healthy":
            return CheckResult.healthy(reason, **evidence)
        if self.on_no_data == "unhealthy":
            return CheckResult.unhealthy(reason, **evidence)
        return CheckResult.error(reason, **evidence)


def _series(data: dict[str, Any]) -> list[tuple[dict[str, str], float]] | None:
    """(labels, value) pairs of an instant result; None for matrix and string results."""
    kind = data.get("resultType")
    result = data.get("result")
    if kind == "scalar" and isinstance(result, list):
        return [({}, float(result[1]))]
    if kind == "vector" and isinstance(result, list):
        return [(dict(item.get("metric") or {}), float(item["value"][1])) for item in result]
    return None


def _name(labels: dict[str, str]) -> str:
    if not labels:
        return "value"
    name = labels.get("__name__", "")
    rest = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()) if k != "__name__")
    return f"{name}{{{rest}}}"
