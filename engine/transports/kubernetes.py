"""`ansible_connection: kubernetes`: a host that stands for a cluster (its kubeconfig, context and
namespace are the host's variables, read by `engine.clients.kubernetes`).

The kubernetes check and action types talk to the API server themselves; what else runs on such
a host (a `command` check or action) runs on the controller, as Ansible runs kubernetes.core's
modules there. Connections (the `tcp`, `http`, `postgres` and `redis` checks) to a name a pod
would use for a service (`redis`, `redis.coffeestudio.svc`) or to kubectl's `svc/NAME` and
`pod/NAME` go through a port-forward, as `kubectl port-forward` makes one: the API server's
pods/portforward websocket to a ready pod behind the service, opened by the official client.
Other addresses (IPs, `localhost`, other DNS names) are reached from the controller.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Mapping
from contextlib import ExitStack
from typing import TYPE_CHECKING, Any, cast

from engine.clients.kubernetes import (
    ClusterAddress,
    Kube,
    api_client,
    cluster_address,
    default_namespace,
    kube_settings,
)
from engine.errors import KubernetesError, TransportError
from engine.output.logs import get_logger
from engine.transports.base import readable
from engine.transports.local import LocalTransport
from engine.transports.pool import register_transport

if TYPE_CHECKING:
    from kubernetes.client import ApiClient

log = get_logger(name="remediate.kubernetes")

REFUSAL_WAIT = 0.5
"""Seconds a new forwarded connection waits for the kubelet to report that the pod's port
refused it: the port-forward protocol acknowledges no connection, it only reports failures."""
API_TIMEOUT = 10.0
"""Seconds the API calls finding a forwarded connection's pod may take."""


class KubernetesTransport(LocalTransport):
    """Commands run on the controller; connections to in-cluster names are port-forwarded."""

    def __init__(self, host: str, hostvars: Mapping[str, Any]) -> None:
        super().__init__(host)
        self._hostvars = dict(hostvars)
        self._lock = threading.Lock()
        self._client: ApiClient | None = None
        self._stack = ExitStack()
        self._listeners: dict[tuple[str, int], socket.socket] = {}
        self._unused: list[socket.socket] = []
        self._closed = False

    # -- finding and opening forwards --------------------------------------------------

    def _kube(self, address: ClusterAddress, timeout: float) -> Kube:
        """The calls in the address's namespace, on one client kept for the run."""
        with self._lock:
            if self._closed:
                raise TransportError(f"{self.host}: transport is closed")
            if self._client is None:
                self._client = self._stack.enter_context(api_client(self.host, self._hostvars))
            client = self._client
        namespace = address.namespace or default_namespace(kube_settings(self._hostvars), self.host)
        return Kube(client, namespace, timeout)

    def _target(self, address: ClusterAddress, port: int, timeout: float) -> tuple[Kube, str, int]:
        """The pod and port a connection goes to; TransportError when the API server cannot
        say, ConnectionRefusedError when no ready pod is behind the service."""
        kube = self._kube(address, timeout)
        try:
            target = kube.forward_target(address, port)
        except KubernetesError as exc:
            raise TransportError(str(exc)) from exc
        if target is None:
            raise ConnectionRefusedError(
                f"service {address.name} in namespace {kube.namespace} has no ready endpoint for port {port}"
            )
        return kube, *target

    def _forward(self, address: ClusterAddress, port: int, timeout: float) -> tuple[Any, socket.socket]:
        """A new forwarded connection: the client's PortForward and its socket."""
        kube, pod, pod_port = self._target(address, port, timeout)
        try:
            forward = kube.portforward(pod, pod_port)
        except KubernetesError as exc:
            raise TransportError(str(exc)) from exc
        return forward, cast(socket.socket, forward.socket(pod_port))

    # -- the transport interface -------------------------------------------------------

    def connect_tcp(self, host: str, port: int, *, timeout: float) -> socket.socket:
        """A connection to host:port as a pod sees it (in-cluster names through a
        port-forward; a refusal the kubelet reports within REFUSAL_WAIT is
        ConnectionRefusedError), else from the controller."""
        address = cluster_address(host)
        if address is None:
            return super().connect_tcp(host, port, timeout=timeout)
        forward, connection = self._forward(address, port, timeout)
        ready = readable([connection], min(REFUSAL_WAIT, timeout))
        refusal = forward.error(forward_port(forward)) if ready else None
        if refusal:
            # A forward that ends without an error was accepted, then closed by the server.
            connection.close()
            raise ConnectionRefusedError(refusal)
        connection.settimeout(timeout)
        return connection

    def local_endpoint(self, host: str, port: int) -> tuple[str, int]:
        """A port on the controller's loopback that reaches host:port as a pod sees it: each
        connection is forwarded to a ready pod found at that moment (a restarted deployment's
        new pods are found); addresses not in the cluster are returned as they are."""
        address = cluster_address(host)
        if address is None:
            return host, port
        try:
            # Asking now makes an unreachable or refusing API server, or a missing service, an
            # error of the check.
            self._target(address, port, API_TIMEOUT)
        except ConnectionRefusedError as exc:
            # No ready pod is the service's answer: its clients are refused, as a stopped
            # server's would be (the next probe asks again).
            log.warning("port-forward refused", host=self.host, target=f"{host}:{port}", reason=str(exc))
            return self._refusing()
        with self._lock:
            listener = self._listeners.get((host, port))
            if listener is None:
                listener = socket.create_server(("127.0.0.1", 0))
                self._listeners[(host, port)] = listener
                threading.Thread(
                    target=self._accept,
                    args=(listener, address, port),
                    daemon=True,
                    name=f"k8s-forward-{host}:{port}",
                ).start()
        bound: tuple[str, int] = listener.getsockname()
        return bound

    def _refusing(self) -> tuple[str, int]:
        """A loopback port that refuses connections: bound (so no other takes it), not listening."""
        unused = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        unused.bind(("127.0.0.1", 0))
        with self._lock:
            self._unused.append(unused)
        bound: tuple[str, int] = unused.getsockname()
        return bound

    def _accept(self, listener: socket.socket, address: ClusterAddress, port: int) -> None:
        while True:
            try:
                connection, _ = listener.accept()
            except OSError:
                return  # closed
            threading.Thread(target=self._serve, args=(connection, address, port), daemon=True).start()

    def _serve(self, connection: socket.socket, address: ClusterAddress, port: int) -> None:
        try:
            _, forwarded = self._forward(address, port, API_TIMEOUT)
        except (OSError, TransportError) as exc:
            # The client sees its connection closed; the log says why.
            log.warning(
                "port-forward failed", host=self.host, target=f"{address.name}:{port}", error=str(exc)
            )
            connection.close()
            return
        _relay(connection, forwarded)

    def close(self) -> None:
        """Stop listening and close the API client; forwarded connections in use end with
        their clients."""
        with self._lock:
            self._closed = True
            listeners, self._listeners = list(self._listeners.values()), {}
            self._client = None
            for unused in self._unused:
                unused.close()
            self._unused = []
        for listener in listeners:
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)  # wakes the thread blocked in accept()
            listener.close()
        self._stack.close()


def forward_port(forward: Any) -> int:
    """The one pod port a PortForward made by this transport carries."""
    return int(next(iter(forward.local_ports)))


def _relay(a: socket.socket, b: socket.socket) -> None:
    """Copy bytes both ways until both sides are done; a side's end is passed on as a half-close."""
    open_sides = {a, b}
    try:
        while open_sides:
            for side in readable(open_sides, None):
                other = b if side is a else a
                data = side.recv(65536)
                if data:
                    other.sendall(data)
                else:
                    open_sides.discard(side)
                    other.shutdown(socket.SHUT_WR)
    except OSError:
        pass  # either side went away: both are closed below
    finally:
        a.close()
        b.close()


@register_transport("kubernetes")
def kubernetes_transport(host: str, hostvars: Mapping[str, Any]) -> KubernetesTransport:
    """The transport factory: nothing is contacted here."""
    return KubernetesTransport(host, hostvars)
