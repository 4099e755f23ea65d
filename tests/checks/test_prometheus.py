"""The `prometheus_query` check against a real Prometheus server scraping a local backend."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from checks.prometheus import PrometheusQueryCheck
from engine.core.results import Health
from tests.servers.metrics import MetricsApp
from tests.servers.net import wait_until
from tests.servers.prometheus import PrometheusServer
from tests.support.contexts import probe_context


def test_up_target_is_healthy(prometheus: PrometheusServer) -> None:
    check = PrometheusQueryCheck(url=prometheus.url, query='up{job="backend"}', min=1)
    result = check.probe(probe_context())
    assert result.is_healthy, result.reason


def test_series_above_max_is_unhealthy_and_named(
    prometheus: PrometheusServer, scraped_metrics_app: MetricsApp
) -> None:
    scraped_metrics_app.memory.set(900e6)
    wait_until(lambda: prometheus.query("process_resident_memory_bytes > 800e6"), 10, "not scraped")
    check = PrometheusQueryCheck(url=prometheus.url, query="process_resident_memory_bytes", max=500e6)
    result = check.probe(probe_context())
    assert result.health is Health.UNHEALTHY
    assert 'process_resident_memory_bytes{instance="' in result.reason
    assert "9e+08 is above 5e+08" in result.reason


def test_scalar_result_is_compared(prometheus: PrometheusServer) -> None:
    check = PrometheusQueryCheck(url=prometheus.url, query="scalar(vector(0.2))", max=0.1)
    result = check.probe(probe_context())
    assert result.health is Health.UNHEALTHY
    assert result.reason == "value 0.2 is above 0.1"


def test_empty_result_is_healthy_by_default(prometheus: PrometheusServer) -> None:
    check = PrometheusQueryCheck(url=prometheus.url, query="no_such_metric", max=1)
    result = check.probe(probe_context())
    assert result.is_healthy
    assert result.reason == "the query returned no data"


def test_query_prometheus_rejects_is_an_error(prometheus: PrometheusServer) -> None:
    check = PrometheusQueryCheck(url=prometheus.url, query="rate(up[5m]", max=1)
    result = check.probe(probe_context())
    assert result.health is Health.ERROR
    assert "rejected the query" in result.reason


def test_range_vector_result_is_an_error(prometheus: PrometheusServer) -> None:
    check = PrometheusQueryCheck(url=prometheus.url, query="up[1m]", max=1)
    result = check.probe(probe_context())
    assert result.health is Health.ERROR
    assert "matrix" in result.reason


def test_unreachable_prometheus_is_an_error(closed_port: int) -> None:
    check = PrometheusQueryCheck(url=f"http://127.0.0.1:{closed_port}", query="up", min=1)
    assert check.probe(probe_context()).health is Health.ERROR


def test_prometheus_that_never_answers_is_an_error_at_the_timeout(silent_port: int) -> None:
    check = PrometheusQueryCheck(url=f"http://127.0.0.1:{silent_port}", query="up", min=1, timeout=0.5)
    result = check.probe(probe_context(timeout=0.5))
    assert result.health is Health.ERROR
    assert "timed out" in result.reason


def test_min_above_max_is_rejected_at_validation() -> None:
    with pytest.raises(ValidationError, match="above `max`"):
        PrometheusQueryCheck(url="http://prom:9090", query="up", min=2, max=1)
