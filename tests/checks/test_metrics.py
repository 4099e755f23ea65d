"""The `metrics` check against a local server exposing prometheus_client metrics."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from checks.metrics import MetricsCheck, histogram_quantile
from engine.core.results import Health
from tests.servers.metrics import MetricsApp
from tests.support.contexts import probe_context


def test_resident_memory_below_max_is_healthy(metrics_app: MetricsApp) -> None:
    metrics_app.memory.set(200e6)
    check = MetricsCheck(url=metrics_app.url, metric="process_resident_memory_bytes", max=500e6)
    result = check.probe(probe_context())
    assert result.is_healthy
    assert result.evidence["value"] == 200e6


def test_resident_memory_above_max_is_unhealthy(metrics_app: MetricsApp) -> None:
    metrics_app.memory.set(800e6)
    check = MetricsCheck(url=metrics_app.url, metric="process_resident_memory_bytes", max=500e6)
    result = check.probe(probe_context())
    assert result.health is Health.UNHEALTHY
    assert "above" in result.reason


def test_error_ratio_counts_only_requests_between_the_two_scrapes(metrics_app: MetricsApp) -> None:
    # Before the check: a bad past (50% errors). During the window: 2 errors in 100.
    metrics_app.serve(50, "500")
    metrics_app.serve(50, "200")
    metrics_app.on_scrape = lambda: (metrics_app.serve(98, "200"), metrics_app.serve(2, "503"))
    check = MetricsCheck(url=metrics_app.url, measure="error_ratio", max=0.05, window=0.1)
    result = check.probe(probe_context())
    assert result.is_healthy, result.reason
    assert result.evidence["requests"] == 100
    assert result.evidence["value"] == pytest.approx(0.02)
    assert metrics_app.scrapes == 2


def test_error_ratio_above_max_is_unhealthy(metrics_app: MetricsApp) -> None:
    metrics_app.on_scrape = lambda: (metrics_app.serve(90, "200"), metrics_app.serve(10, "502"))
    check = MetricsCheck(url=metrics_app.url, measure="error_ratio", max=0.01, window=0.1)
    result = check.probe(probe_context())
    assert result.health is Health.UNHEALTHY
    assert result.evidence["value"] == pytest.approx(0.1)
    assert result.reason == "error ratio of http_requests_total 0.1 is above 0.01"


def test_error_ratio_since_start_with_window_zero(metrics_app: MetricsApp) -> None:
    metrics_app.serve(99, "200")
    metrics_app.serve(1, "500")
    check = MetricsCheck(url=metrics_app.url, measure="error_ratio", max=0.05, window=0)
    result = check.probe(probe_context())
    assert result.evidence["value"] == pytest.approx(0.01)
    assert metrics_app.scrapes == 1


def test_no_requests_in_the_window_is_healthy_by_default(metrics_app: MetricsApp) -> None:
    metrics_app.serve(10, "500")
    check = MetricsCheck(url=metrics_app.url, measure="error_ratio", max=0.01, window=0.1)
    result = check.probe(probe_context())
    assert result.is_healthy
    assert result.reason.startswith("no data")


def test_no_data_can_be_declared_unhealthy(metrics_app: MetricsApp) -> None:
    check = MetricsCheck(url=metrics_app.url, metric="absent_metric", max=1, on_no_data="unhealthy")
    assert check.probe(probe_context()).health is Health.UNHEALTHY


def test_p95_latency_above_max_is_unhealthy(metrics_app: MetricsApp) -> None:
    metrics_app.on_scrape = lambda: (
        metrics_app.serve(90, seconds=0.05),
        metrics_app.serve(10, seconds=2.0),
    )
    check = MetricsCheck(url=metrics_app.url, measure="quantile", max=0.5, window=0.1)
    result = check.probe(probe_context())
    assert result.health is Health.UNHEALTHY
    assert result.reason.startswith("p95 of http_request_duration_seconds")
    assert 1.0 < result.evidence["value"] <= 2.5


def test_p95_latency_below_max_is_healthy(metrics_app: MetricsApp) -> None:
    metrics_app.serve(100, seconds=3.0)  # slow, but before the window
    metrics_app.on_scrape = lambda: metrics_app.serve(100, seconds=0.07)
    check = MetricsCheck(url=metrics_app.url, measure="quantile", max=0.5, window=0.1)
    result = check.probe(probe_context())
    assert result.is_healthy, result.reason
    assert 0.05 < result.evidence["value"] <= 0.1


def test_histogram_quantile_interpolates_like_promql() -> None:
    buckets = {0.1: 50.0, 0.5: 90.0, 1.0: 100.0, float("inf"): 100.0}
    assert histogram_quantile(0.5, buckets) == pytest.approx(0.1)
    assert histogram_quantile(0.7, buckets) == pytest.approx(0.3)
    assert histogram_quantile(0.95, buckets) == pytest.approx(0.75)
    assert histogram_quantile(0.99, {1.0: 50.0, float("inf"): 100.0}) == 1.0


def test_refused_connection_is_an_error(closed_port: int) -> None:
    check = MetricsCheck(url=f"http://127.0.0.1:{closed_port}/metrics", metric="up", min=1)
    result = check.probe(probe_context())
    assert result.health is Health.ERROR
    assert "connection refused" in result.reason


def test_server_that_never_answers_is_an_error_at_the_timeout(silent_port: int) -> None:
    check = MetricsCheck(url=f"http://127.0.0.1:{silent_port}/metrics", metric="up", min=1, timeout=0.5)
    result = check.probe(probe_context(timeout=0.5))
    assert result.health is Health.ERROR
    assert "timed out" in result.reason


def test_non_200_answer_is_an_error(metrics_app: MetricsApp) -> None:
    metrics_app.status = 503
    check = MetricsCheck(url=metrics_app.url, metric="process_resident_memory_bytes", max=1)
    assert check.probe(probe_context()).health is Health.ERROR


def test_malformed_text_is_an_error(metrics_app: MetricsApp) -> None:
    metrics_app.body_override = "this is { not prometheus\n"
    check = MetricsCheck(url=metrics_app.url, metric="process_resident_memory_bytes", max=1)
    result = check.probe(probe_context())
    assert result.health is Health.ERROR
    assert "not Prometheus text" in result.reason


def test_value_without_metric_is_rejected_at_validation() -> None:
    with pytest.raises(ValidationError, match="needs `metric`"):
        MetricsCheck(url="http://127.0.0.1/metrics", max=1)


def test_no_limit_is_rejected_at_validation() -> None:
    with pytest.raises(ValidationError, match="give `max` and/or `min`"):
        MetricsCheck(url="http://127.0.0.1/metrics", metric="up")


def test_bad_label_regex_is_rejected_at_validation() -> None:
    with pytest.raises(ValidationError, match="regular expression"):
        MetricsCheck(url="http://x/metrics", measure="error_ratio", max=1, error_labels={"status": "5(("})


def test_window_not_shorter_than_the_timeout_is_rejected_at_validation() -> None:
    with pytest.raises(ValidationError, match="must be shorter than `timeout`"):
        MetricsCheck(url="http://x/metrics", measure="quantile", max=0.5, window="10s", timeout="5s")
