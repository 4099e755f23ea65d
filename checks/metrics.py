"""`metrics`: a number computed from a service's Prometheus /metrics stays within limits.

Rates need two points in time. This check takes them itself: it scrapes twice, `window`
apart, and compares the difference (the requests, errors and latencies of those seconds),
instead of keeping the previous scrape in state between runs. A run then needs no state
directory and a freshly restarted engine judges immediately; the price is a probe that
takes `window` seconds, so keep it short (a few seconds) or use `prometheus_query` where
a Prometheus server keeps the history. `window: 0` compares the counters since the process
started (one scrape).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from checks.base import Check
from checks.thresholds import Threshold
from engine.clients.http import http_get, validate_http_url
from engine.errors import HttpFetchError
from engine.kit import CheckResult, Duration, ProbeContext, check_type, user_regex, valid_regex

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]
"""(sample name, sorted labels) -> value, from one scrape."""

_DEFAULT_METRIC = {
    "error_ratio": "http_requests_total",
    "quantile": "http_request_duration_seconds",
}


@check_type("metrics")
class MetricsCheck(Check, Threshold):
    """Scrapes Prometheus text (parsed by prometheus_client's parser) and computes one of:

    - `value`: the sum of the samples of `metric` matching `labels`
      (`process_resident_memory_bytes`);
    - `error_ratio`: the share of requests counted by `metric` (`http_requests_total`)
      whose labels also match `error_labels` (`status: "5.."`), over `window`;
    - `quantile`: the `quantile` (0.95 for p95) of a histogram `metric`
      (`http_request_duration_seconds`) over `window`, interpolated within buckets like
      PromQL's histogram_quantile.

    Label values are regular expressions matched against the whole value, like PromQL's `=~`.
    """

    url: str = Field(description="the /metrics URL")
    measure: Literal["value", "error_ratio", "quantile"] = Field(
        "value", description="what to compute: value, error_ratio or quantile"
    )
    metric: str | None = Field(
        None,
        description="sample name; defaults: http_requests_total for error_ratio, "
        "http_request_duration_seconds for quantile; required for value",
    )
    labels: dict[str, str] = Field(
        default_factory=dict, description="label matchers (anchored regular expressions, RE2 syntax)"
    )
    error_labels: dict[str, str] = Field(
        default_factory=lambda: {"status": "5.."},
        description="error_ratio: matchers that make a request an error",
    )
    quantile: float = Field(0.95, gt=0, lt=1, description="quantile: which one (0.95 = p95)")
    window: Duration = Field(
        5.0, description="error_ratio/quantile: seconds between the two scrapes; 0 = since start"
    )
    via_host: bool = Field(False, description="reach the URL as the target host sees it")
    verify_tls: bool = Field(True, description="verify the server's TLS certificate")

    @field_validator("url")
    @classmethod
    def _http_url(cls, url: str) -> str:
        return validate_http_url(url)

    @field_validator("labels", "error_labels")
    @classmethod
    def _regexes(cls, matchers: dict[str, str]) -> dict[str, str]:
        for name, pattern in matchers.items():
            try:
                valid_regex(pattern)
            except ValueError as exc:
                raise ValueError(f"label {name!r}: {exc}") from None
        return matchers

    @model_validator(mode="after")
    def _metric_known(self) -> MetricsCheck:
        if self.metric is None and self.measure == "value":
            raise ValueError("measure `value` needs `metric` (e.g. process_resident_memory_bytes)")
        if self.measure == "error_ratio" and not self.error_labels:
            raise ValueError("measure `error_ratio` needs `error_labels` to tell errors apart")
        if self.measure != "value" and self.window >= self.timeout:
            raise ValueError(
                f"`window` ({self.window:g}s) must be shorter than `timeout` ({self.timeout:g}s): "
                "both scrapes and the pause between them happen within the timeout"
            )
        return self

    def probe(self, ctx: ProbeContext) -> CheckResult:
        from prometheus_client.parser import text_string_to_metric_families

        metric = self.metric or _DEFAULT_METRIC[self.measure]
        two_scrapes = self.measure != "value" and self.window > 0
        # Both scrapes share what the window leaves of the timeout.
        scrape_timeout = (self.timeout - self.window) / 2 if two_scrapes else self.timeout
        try:
            first = self._scrape(ctx, text_string_to_metric_families, scrape_timeout)
            if two_scrapes:
                ctx.clock.sleep(self.window)
                second = self._scrape(ctx, text_string_to_metric_families, scrape_timeout)
                samples = _delta(first, second)
            else:
                samples = first
        except HttpFetchError as exc:
            return CheckResult.error(f"cannot scrape {self.url}: {exc}")
        except ValueError as exc:  # the parser's complaint about malformed text
            return CheckResult.error(f"{self.url} is not Prometheus text: {exc}")
        value, evidence = self._compute(metric, samples)
        evidence.update(measure=self.measure, metric=metric)
        if value is None:
            return self._no_data(evidence)
        evidence["value"] = value
        what = self._name(metric)
        problem = self.violation(value)
        if problem:
            return CheckResult.unhealthy(f"{what} {problem}", **evidence)
        return CheckResult.healthy(f"{what} is {value:g}", **evidence)

    def _scrape(self, ctx: ProbeContext, parse: Any, timeout: float) -> Samples:
        answer = http_get(ctx, self.url, timeout=timeout, via_host=self.via_host, verify_tls=self.verify_tls)
        if answer.status != 200:
            raise HttpFetchError(f"status {answer.status}")
        samples: Samples = {}
        for family in parse(answer.body):
            for sample in family.samples:
                key = (sample.name, tuple(sorted(sample.labels.items())))
                samples[key] = float(sample.value)
        return samples

    def _compute(self, metric: str, samples: Samples) -> tuple[float | None, dict[str, Any]]:
        if self.measure == "value":
            values = [v for _, v in _matching(samples, metric, self.labels)]
            return (sum(values) if values else None), {"series": len(values)}
        if self.measure == "error_ratio":
            total = sum(v for _, v in _matching(samples, metric, self.labels))
            errors = sum(v for _, v in _matching(samples, metric, {**self.labels, **self.error_labels}))
            evidence = {"requests": total, "errors": errors, "window_s": self.window}
            return (errors / total if total > 0 else None), evidence
        base = metric.removesuffix("_bucket")
        buckets: dict[float, float] = {}
        for labels, value in _matching(samples, f"{base}_bucket", self.labels):
            bound = float(labels["le"])
            buckets[bound] = buckets.get(bound, 0.0) + value
        count = buckets.get(math.inf, 0.0)
        evidence = {"requests": count, "window_s": self.window}
        return (histogram_quantile(self.quantile, buckets) if count > 0 else None), evidence

    def _name(self, metric: str) -> str:
        if self.measure == "error_ratio":
            return f"error ratio of {metric}"
        if self.measure == "quantile":
            return f"p{self.quantile * 100:g} of {metric.removesuffix('_bucket')}"
        return metric

    def _no_data(self, evidence: dict[str, Any]) -> CheckResult:
        reason = "no data: no matching samples" + (
            " or no requests in the window" if self.measure != "value" else ""
        )
        if self.on_no_data == "healthy":
            return CheckResult.healthy(reason, **evidence)
        if self.on_no_data == "unhealthy":
            return CheckResult.unhealthy(reason, **evidence)
        return CheckResult.error(reason, **evidence)


def histogram_quantile(quantile: float, buckets: dict[float, float]) -> float:
    """PromQL's histogram_quantile over cumulative bucket counts keyed by upper bound: linear
    interpolation within the bucket the rank falls in; a rank in the +Inf bucket answers the
    highest finite bound."""
    bounds = sorted(buckets)
    total = buckets[bounds[-1]]
    rank = quantile * total
    lower_bound, lower_count = 0.0, 0.0
    for bound in bounds:
        count = buckets[bound]
        if count >= rank:
            if math.isinf(bound):
                return lower_bound
            if count == lower_count:
                return bound
            return lower_bound + (bound - lower_bound) * (rank - lower_count) / (count - lower_count)
        lower_bound, lower_count = bound, count
    return lower_bound


def _matching(
    samples: Samples, name: str, matchers: dict[str, str]
) -> Iterable[tuple[dict[str, str], float]]:
    compiled = {label: user_regex(pattern) for label, pattern in matchers.items()}
    for (sample_name, label_items), value in samples.items():
        if sample_name != name:
            continue
        labels = dict(label_items)
        if all(regex.fullmatch(labels.get(label, "")) for label, regex in compiled.items()):
            yield labels, value


def _delta(first: Samples, second: Samples) -> Samples:
    """Per-series increase between two scrapes. A series that went down was reset (the
    process restarted): its count since the reset is the second value, as PromQL's rate()
    assumes."""
    delta: Samples = {}
    for key, value in second.items():
        before = first.get(key, 0.0)
        delta[key] = value - before if value >= before else value
    return delta
