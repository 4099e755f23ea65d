"""The tcp check against a real listening socket."""

from __future__ import annotations

from checks.tcp import TcpCheck
from engine.core.results import Health
from tests.support.contexts import probe_context
from tests.support.services import Service, free_port


def test_tcp_is_healthy_when_the_port_accepts(tcp_service: Service) -> None:
    assert TcpCheck(port=tcp_service.port).probe(probe_context()).is_healthy


def test_tcp_reports_a_refused_port() -> None:
    port = free_port()
    result = TcpCheck(port=port).probe(probe_context())
    assert (result.health, result.reason) == (Health.UNHEALTHY, f"127.0.0.1:{port} refused the connection")
