"""`ansible_connection: kubernetes`: the host is a cluster; its commands run on the controller, and
the `tcp`, `http`, `postgres` and `redis` checks reach in-cluster names through port-forwards
made by the real `kubernetes` client over the API server stand-in's pods/portforward websocket,
to real servers standing in for the pods' ports."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from checks.http import HttpCheck
from checks.postgres import PostgresCheck
from checks.redis import RedisCheck
from checks.tcp import TcpCheck
from engine.core.results import Health
from engine.errors import TransportError
from engine.transports.kubernetes import KubernetesTransport
from engine.transports.pool import TransportPool
from tests.servers.kube_apiserver import StandIn
from tests.servers.postgres import PostgresServer
from tests.servers.redis import RedisServer
from tests.support.contexts import probe_context
from tests.support.services import Service, free_port


def test_a_cluster_hosts_command_runs_on_the_controller() -> None:
    pool = TransportPool({"production": {"ansible_connection": "kubernetes"}})
    try:
        result = pool.get("production").run(["hostname"], timeout=5)
    finally:
        pool.close()
    assert result.succeeded
    assert result.stdout.strip() == socket.gethostname()


@pytest.fixture
def cluster_transport(kube_standin: StandIn) -> Iterator[KubernetesTransport]:
    transport = KubernetesTransport("production", kube_standin.hostvars)
    yield transport
    transport.close()


def _serve(standin: StandIn, name: str, port: int, address: tuple[str, int]) -> None:
    """A deployment `name` whose pods serve `port` (named `main`) by the real server at
    `address`, behind a service `name` mapping `port` to it by the port's name."""
    standin.cluster.add_deployment(name, f"{name}:1", replicas=1, ports={"main": port})
    standin.cluster.add_service(name, name, [{"name": "main", "port": port, "targetPort": "main"}])
    standin.cluster.listen(name, port, address)


def _forwards(standin: StandIn) -> list[str]:
    return [path for _, path, kind in standin.cluster.requests if path.split("?")[0].endswith("/portforward")]


def test_a_tcp_check_of_a_service_reaches_its_ready_pod_through_a_port_forward(
    kube_standin: StandIn, cluster_transport: KubernetesTransport, tcp_service: Service
) -> None:
    _serve(kube_standin, "queue", 7000, ("127.0.0.1", tcp_service.port))
    context = probe_context(hostvars=kube_standin.hostvars, transport=cluster_transport)
    result = TcpCheck(host="queue", port=7000).probe(context)
    assert result.health is Health.HEALTHY, result.reason
    [forward] = _forwards(kube_standin)
    assert forward.startswith("/api/v1/namespaces/production/pods/queue-") and forward.endswith("?ports=7000")


def test_a_port_the_pod_refuses_is_unhealthy_as_the_kubelet_reports_it(
    kube_standin: StandIn, cluster_transport: KubernetesTransport
) -> None:
    _serve(kube_standin, "queue", 7000, ("127.0.0.1", free_port()))
    context = probe_context(hostvars=kube_standin.hostvars, transport=cluster_transport)
    result = TcpCheck(host="svc/queue", port=7000).probe(context)
    assert result.health is Health.UNHEALTHY
    assert "refused" in result.reason


def test_a_service_without_ready_pods_is_unhealthy_not_an_error(
    kube_standin: StandIn, cluster_transport: KubernetesTransport, tcp_service: Service
) -> None:
    kube_standin.cluster.crashing.add("queue:1")
    _serve(kube_standin, "queue", 7000, ("127.0.0.1", tcp_service.port))
    context = probe_context(hostvars=kube_standin.hostvars, transport=cluster_transport)
    result = TcpCheck(host="queue.production.svc.cluster.local", port=7000).probe(context)
    assert result.health is Health.UNHEALTHY
    assert not _forwards(kube_standin)


def test_a_forbidden_port_forward_is_an_error_naming_the_rule_that_would_allow_it(
    kube_standin: StandIn, cluster_transport: KubernetesTransport, tcp_service: Service
) -> None:
    _serve(kube_standin, "queue", 7000, ("127.0.0.1", tcp_service.port))
    kube_standin.cluster.forbid.add(("create", "pods/portforward"))
    context = probe_context(hostvars=kube_standin.hostvars, transport=cluster_transport)
    # A transport error: the engine reports the check `error` with it, and never acts.
    with pytest.raises(TransportError, match=r'resources: \["pods/portforward"\], verbs: \["create"\]'):
        TcpCheck(host="queue", port=7000).probe(context)


def test_an_http_check_of_a_service_url_is_answered_by_the_pod_and_follows_a_replaced_pod(
    kube_standin: StandIn, cluster_transport: KubernetesTransport, http_service: Service
) -> None:
    _serve(kube_standin, "api", 8000, ("127.0.0.1", http_service.port))
    context = probe_context(hostvars=kube_standin.hostvars, transport=cluster_transport)
    check = HttpCheck(url="http://api:8000/health", status=200, json={"status": "ok"}, via_host=True)
    assert check.probe(context).health is Health.HEALTHY
    [first] = kube_standin.cluster.pods.keys() - {p for p in kube_standin.cluster.pods if "backend" in p}
    with kube_standin.cluster.lock:
        kube_standin.cluster.handle("DELETE", f"/api/v1/namespaces/production/pods/{first}", {}, None, "")
    assert check.probe(context).health is Health.HEALTHY
    pods = [path.split("/")[6] for path in _forwards(kube_standin)]
    assert pods[0] == first and pods[-1] != first and pods[-1].startswith("api-")


def test_a_postgres_check_of_a_service_logs_in_through_the_forward(
    kube_standin: StandIn, cluster_transport: KubernetesTransport, postgres_db: PostgresServer
) -> None:
    _serve(kube_standin, "postgres", 5432, (postgres_db.host, postgres_db.port))
    context = probe_context(hostvars=kube_standin.hostvars, transport=cluster_transport)
    check = PostgresCheck(
        host="postgres.production.svc",
        port=5432,
        user=postgres_db.user,
        dbname=postgres_db.dbname,
        password_env=postgres_db.password_env,
        query="SELECT current_database()",
        expect="coffeestudio",
    )
    result = check.probe(context)
    assert result.health is Health.HEALTHY, result.reason


def test_a_postgres_service_without_ready_pods_is_unhealthy_not_an_error(
    kube_standin: StandIn, cluster_transport: KubernetesTransport, postgres_db: PostgresServer
) -> None:
    kube_standin.cluster.crashing.add("postgres:1")
    _serve(kube_standin, "postgres", 5432, (postgres_db.host, postgres_db.port))
    context = probe_context(hostvars=kube_standin.hostvars, transport=cluster_transport)
    check = PostgresCheck(
        host="postgres", port=5432, user=postgres_db.user, password_env=postgres_db.password_env
    )
    result = check.probe(context)
    assert result.health is Health.UNHEALTHY
    assert result.reason.endswith("connection refused")


def test_a_redis_check_of_a_service_pings_through_a_forward_over_tls_with_a_client_certificate(
    kube_standin_tls: StandIn, redis_db: RedisServer
) -> None:
    _serve(kube_standin_tls, "redis", 6379, ("127.0.0.1", redis_db.port))
    transport = KubernetesTransport("production", kube_standin_tls.hostvars)
    try:
        context = probe_context(hostvars=kube_standin_tls.hostvars, transport=transport)
        result = RedisCheck(url="redis://redis:6379/0", password_env=redis_db.password_env).probe(context)
    finally:
        transport.close()
    assert result.health is Health.HEALTHY, result.reason
    assert _forwards(kube_standin_tls)


def test_addresses_outside_the_cluster_are_reached_from_the_controller(
    kube_standin: StandIn, cluster_transport: KubernetesTransport, tcp_service: Service
) -> None:
    context = probe_context(hostvars=kube_standin.hostvars, transport=cluster_transport)
    assert TcpCheck(host="127.0.0.1", port=tcp_service.port).probe(context).is_healthy
    assert cluster_transport.local_endpoint("localhost", 5432) == ("localhost", 5432)
    assert not _forwards(kube_standin)
