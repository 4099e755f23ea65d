"""Reaching a Kubernetes API server with the official `kubernetes` client, and reading what it
says about deployments the way kubectl reads it.

Where the cluster is comes from the host's variables, with kubernetes.core's names:
`ansible_kubectl_kubeconfig`, `ansible_kubectl_context` and `ansible_kubectl_namespace` (then
the `K8S_AUTH_KUBECONFIG` / `K8S_AUTH_CONTEXT` environment, then `KUBECONFIG` and
`~/.kube/config`, the context the file names current, that context's namespace, `default`).

Objects are handled as the API's JSON (camelCase dicts, as `kubectl get -o json` prints them),
not the client's generated models, so that the rollout rules below read like kubectl's Go.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field

from engine.clients.sizes import HeadTail
from engine.core.context import ProbeContext
from engine.errors import KubeconfigError, KubeObjectNotFound, KubernetesError

if TYPE_CHECKING:
    from kubernetes.client import ApiClient
    from kubernetes.stream.ws_client import PortForward

REVISION = "deployment.kubernetes.io/revision"
"""The annotation the deployment controller numbers each ReplicaSet (and the deployment) with."""
TEMPLATE_HASH = "pod-template-hash"
"""The label the controller puts on a ReplicaSet's pods and selector: its template's hash."""
RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"
"""The pod-template annotation `kubectl rollout restart` sets (RFC 3339 time)."""
ANNOTATIONS_NOT_COPIED = frozenset(
    {
        "kubectl.kubernetes.io/last-applied-configuration",
        REVISION,
        "deployment.kubernetes.io/revision-history",
        "deployment.kubernetes.io/desired-replicas",
        "deployment.kubernetes.io/max-replicas",
        "deprecated.deployment.rollback.to",
    }
)
"""kubectl's `annotationsToSkip`: a rollback keeps the deployment's own values of these and
copies every other annotation of the ReplicaSet it goes back to."""

CONNECTION_VARIABLES = ("ansible_kubectl_kubeconfig", "ansible_kubectl_context", "ansible_kubectl_namespace")


class KubeRef(BaseModel):
    """The option every kubernetes check and action shares: the namespace of its object."""

    namespace: str | None = Field(
        None,
        description="namespace of the object; defaults to the host's `ansible_kubectl_namespace`, "
        "then the kubeconfig context's namespace, then `default`",
    )


@dataclass(frozen=True)
class KubeSettings:
    """Which cluster, as whom, and the namespace objects are looked up in by default."""

    kubeconfig: str
    context: str | None
    namespace: str | None
    """None: the context's namespace, else `default`."""
    source: str = "ansible_kubectl_kubeconfig"
    """Where `kubeconfig` came from (a variable or the environment), for error messages."""


def uses_kubernetes(hostvars: Mapping[str, Any]) -> bool:
    """Whether a host names a cluster: its connection is `kubernetes`, or it sets one of
    kubernetes.core's connection variables."""
    return hostvars.get("ansible_connection") == "kubernetes" or any(
        hostvars.get(name) for name in CONNECTION_VARIABLES
    )


def kube_settings(hostvars: Mapping[str, Any]) -> KubeSettings:
    """The host's cluster settings, from its variables, then the environment kubectl reads."""
    candidates = (
        ("ansible_kubectl_kubeconfig", hostvars.get("ansible_kubectl_kubeconfig")),
        ("$K8S_AUTH_KUBECONFIG", os.environ.get("K8S_AUTH_KUBECONFIG")),
        ("$KUBECONFIG", (os.environ.get("KUBECONFIG") or "").split(os.pathsep)[0]),
        ("the default", str(Path.home() / ".kube" / "config")),
    )
    source, kubeconfig = next((name, value) for name, value in candidates if value)
    context = hostvars.get("ansible_kubectl_context") or os.environ.get("K8S_AUTH_CONTEXT")
    namespace = hostvars.get("ansible_kubectl_namespace")
    return KubeSettings(
        str(kubeconfig), str(context) if context else None, str(namespace) if namespace else None, source
    )


def _read_kubeconfig(settings: KubeSettings, host: str) -> dict[str, Any]:
    """The kubeconfig as data; KubeconfigError naming the file when it is missing or not a
    kubeconfig, or naming the context when the file has no such context."""
    import yaml

    path = Path(settings.kubeconfig).expanduser()
    where = f"host {host}: kubeconfig {path} ({settings.source})"
    try:
        with path.open("rb") as handle:
            raw = handle.read(4 * 1024 * 1024 + 1)
    except OSError as exc:
        raise KubeconfigError(f"{where} cannot be read: {exc.strerror}") from exc
    if len(raw) > 4 * 1024 * 1024:
        raise KubeconfigError(f"{where} is larger than 4 MiB")
    try:
        data = yaml.safe_load(raw)
    except yaml.YAMLError as exc:
        raise KubeconfigError(f"{where} is not valid YAML: {exc}") from exc
    if not isinstance(data, dict) or not isinstance(data.get("contexts"), list):
        raise KubeconfigError(f"{where} is not a kubeconfig (no `contexts:` list)")
    names = [str(c.get("name")) for c in data["contexts"] if isinstance(c, dict)]
    wanted = settings.context or data.get("current-context")
    if not wanted:
        raise KubeconfigError(
            f"{where} has no current-context; set ansible_kubectl_context (contexts: {', '.join(names)})"
        )
    if wanted not in names:
        raise KubeconfigError(
            f"host {host}: context {wanted!r} is not in kubeconfig {path} "
            f"(contexts: {', '.join(names) or 'none'})"
        )
    return data


def check_settings(host: str, hostvars: Mapping[str, Any]) -> None:
    """Raise KubeconfigError (exit 2, before anything runs) when the host's kubeconfig or
    context does not exist."""
    if uses_kubernetes(hostvars):
        _read_kubeconfig(kube_settings(hostvars), host)


def default_namespace(settings: KubeSettings, host: str) -> str:
    """The namespace objects are looked up in when a check or action names none."""
    if settings.namespace:
        return settings.namespace
    data = _read_kubeconfig(settings, host)
    wanted = settings.context or data.get("current-context")
    for entry in data["contexts"]:
        if isinstance(entry, dict) and entry.get("name") == wanted:
            return str((entry.get("context") or {}).get("namespace") or "default")
    return "default"


@dataclass(frozen=True)
class ClusterAddress:
    """A name a pod would use for something in its cluster: a service (or a pod, as
    `kubectl port-forward pod/NAME` names one)."""

    kind: str
    """`service` or `pod`."""
    name: str
    namespace: str | None
    """None: the host's namespace."""


_DNS_LABEL = r"[a-z]([-a-z0-9]{0,61}[a-z0-9])?"
_SUBDOMAIN = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*"
_KINDS = {
    "pod": "pod",
    "pods": "pod",
    "po": "pod",
    "svc": "service",
    "service": "service",
    "services": "service",
}


def cluster_address(address: str) -> ClusterAddress | None:
    """What `address` names inside the cluster, read as cluster DNS reads it from a pod
    (`NAME`: a service of the host's namespace, `NAME.NAMESPACE.svc[.cluster.local]`) or as
    kubectl's `svc/NAME`, `pod/NAME`; None for what the controller reaches itself (an IP,
    `localhost`, any other DNS name)."""
    kind, slash, name = address.partition("/")
    if slash:
        if kind in _KINDS and re.fullmatch(_SUBDOMAIN if _KINDS[kind] == "pod" else _DNS_LABEL, name):
            return ClusterAddress(_KINDS[kind], name, None)
        return None
    name = address.lower()  # DNS names are case-insensitive
    if name != "localhost" and re.fullmatch(_DNS_LABEL, name):
        return ClusterAddress("service", name, None)
    found = re.fullmatch(
        rf"(?P<name>{_DNS_LABEL})\.(?P<namespace>{_DNS_LABEL})\.svc(\.cluster\.local)?\.?", name
    )
    if found:
        return ClusterAddress("service", found["name"], found["namespace"])
    return None


@contextmanager
def api_client(host: str, hostvars: Mapping[str, Any]) -> Iterator[ApiClient]:
    """A client of the host's cluster, closed afterwards."""
    from kubernetes import config

    settings = kube_settings(hostvars)
    _read_kubeconfig(settings, host)
    try:
        client = config.new_client_from_config(
            config_file=str(Path(settings.kubeconfig).expanduser()),
            context=settings.context,
            persist_config=False,
        )
    except config.ConfigException as exc:
        raise KubeconfigError(f"host {host}: kubeconfig {settings.kubeconfig}: {exc}") from exc
    # One try only: an unreachable API server is an error to report now, not after retries.
    client.configuration.retries = False
    try:
        yield client
    finally:
        client.close()


@contextmanager
def kube(ctx: ProbeContext, namespace: str | None, timeout: float) -> Iterator[Kube]:
    """The calls of the host's cluster in `namespace` (else the host's, else the context's)."""
    namespace = namespace or default_namespace(kube_settings(ctx.hostvars), ctx.host)
    with api_client(ctx.host, ctx.hostvars) as client:
        yield Kube(client, namespace, timeout)


class Kube:
    """The calls the check and action types make, each turned into JSON or a KubernetesError
    saying what was asked (`verb resource`) and why it could not be."""

    def __init__(self, client: ApiClient, namespace: str, timeout: float) -> None:
        from kubernetes import client as k8s

        self.client = client
        self.namespace = namespace
        self.timeout = timeout
        self.apps = k8s.AppsV1Api(client)
        self.core = k8s.CoreV1Api(client)

    def _json(self, value: Any) -> dict[str, Any]:
        data: dict[str, Any] = self.client.sanitize_for_serialization(value)
        return data

    def deployment(self, name: str) -> dict[str, Any]:
        with kube_errors("get", "deployments", self.namespace, "apps", name):
            return self._json(
                self.apps.read_namespaced_deployment(name, self.namespace, _request_timeout=self.timeout)
            )

    def patch_deployment(self, name: str, body: Any, *, json_patch: bool = False) -> dict[str, Any]:
        """Patch a deployment: a strategic merge patch (a dict), or a JSON patch (a list of
        operations, as `kubectl rollout undo` sends)."""
        content = "application/json-patch+json" if json_patch else "application/strategic-merge-patch+json"
        with kube_errors("patch", "deployments", self.namespace, "apps", name):
            return self._json(
                self.apps.patch_namespaced_deployment(
                    name, self.namespace, body, _content_type=content, _request_timeout=self.timeout
                )
            )

    def scale(self, name: str, replicas: int) -> None:
        with kube_errors("patch", "deployments/scale", self.namespace, "apps", name):
            self.apps.patch_namespaced_deployment_scale(
                name,
                self.namespace,
                {"spec": {"replicas": replicas}},
                _content_type="application/merge-patch+json",
                _request_timeout=self.timeout,
            )

    def replica_sets(self, deployment: Mapping[str, Any]) -> list[dict[str, Any]]:
        """The ReplicaSets the deployment owns (its history), as kubectl finds them: by the
        deployment's selector, then by owner reference."""
        uid = deployment["metadata"].get("uid")
        selector = selector_text(deployment["spec"].get("selector") or {})
        with kube_errors("list", "replicasets", self.namespace, "apps"):
            items = (
                self._json(
                    self.apps.list_namespaced_replica_set(
                        self.namespace, label_selector=selector, _request_timeout=self.timeout
                    )
                ).get("items")
                or []
            )
        return [rs for rs in items if _owned_by(rs, uid)]

    def pods(self, selector: Mapping[str, Any]) -> list[dict[str, Any]]:
        with kube_errors("list", "pods", self.namespace):
            items = self._json(
                self.core.list_namespaced_pod(
                    self.namespace, label_selector=selector_text(selector), _request_timeout=self.timeout
                )
            ).get("items")
        return list(items or [])

    def delete_pod(self, name: str) -> bool:
        """Delete a pod; False when it is already gone."""
        try:
            with kube_errors("delete", "pods", self.namespace, "", name):
                self.core.delete_namespaced_pod(name, self.namespace, _request_timeout=self.timeout)
        except KubeObjectNotFound:
            return False
        return True

    def exec(
        self, pod: str, container: str | None, argv: list[str], timeout: float
    ) -> tuple[int | None, str, str]:
        """Run `argv` in a pod's container as `kubectl exec` does (a websocket, channels for
        stdout, stderr and the status): the exit code (None when it did not finish within
        `timeout`), stdout and stderr, each a bounded head and tail (engine.clients.sizes)."""
        from kubernetes.stream import stream

        with kube_errors("create", "pods/exec", self.namespace, "", pod):
            socket = stream(
                self.core.connect_get_namespaced_pod_exec,
                pod,
                self.namespace,
                command=argv,
                container=container,
                stderr=True,
                stdin=False,
                stdout=True,
                tty=False,
                _preload_content=False,
                _request_timeout=timeout,
            )
        deadline = time.monotonic() + timeout
        stdout, stderr = HeadTail(), HeadTail()
        try:
            # Read as the frames come, into bounded buffers: the client's run_forever would hold
            # everything the command writes until it ends.
            while socket.is_open() and (left := deadline - time.monotonic()) > 0:
                socket.update(timeout=min(left, 0.5))
                _drain(socket, stdout, stderr)
            _drain(socket, stdout, stderr)
            if socket.is_open():
                return None, stdout.text(), stderr.text()
            return _exit_code(socket.read_channel(3), pod), stdout.text(), stderr.text()
        finally:
            socket.close()

    def forward_target(self, address: ClusterAddress, port: int) -> tuple[str, int] | None:
        """The pod and pod port that `port` of `address` reaches, as `kubectl port-forward`
        picks them: a pod as named (it must be running); for a service, a ready endpoint's pod
        and the endpoint port of the service port's name (the target port, named ports
        resolved), from its Endpoints. None when the service has no ready endpoint."""
        if address.kind == "pod":
            with kube_errors("get", "pods", self.namespace, "", address.name):
                pod = self._json(
                    self.core.read_namespaced_pod(address.name, self.namespace, _request_timeout=self.timeout)
                )
            phase = (pod.get("status") or {}).get("phase")
            if phase != "Running":
                raise KubernetesError(
                    f"pod {address.name} in namespace {self.namespace} is not running (phase {phase})"
                )
            return address.name, port
        with kube_errors("get", "services", self.namespace, "", address.name):
            service = self._json(
                self.core.read_namespaced_service(address.name, self.namespace, _request_timeout=self.timeout)
            )
        wanted = next(
            (p for p in (service.get("spec") or {}).get("ports") or [] if p.get("port") == port), None
        )
        if wanted is None:
            offered = ", ".join(str(p.get("port")) for p in (service.get("spec") or {}).get("ports") or [])
            raise KubeObjectNotFound(
                f"service {address.name} in namespace {self.namespace} has no port {port} "
                f"(its ports: {offered or 'none'})"
            )
        for subset in self.endpoints(address.name).get("subsets") or []:
            ports = subset.get("ports") or []
            match = next((p for p in ports if p.get("name") == wanted.get("name")), None)
            if match is None and len(ports) == 1 and not wanted.get("name"):
                match = ports[0]
            pods = [
                a["targetRef"]["name"]
                for a in subset.get("addresses") or []
                if (a.get("targetRef") or {}).get("kind") == "Pod"
            ]
            if match is not None and pods:
                return pods[0], int(match["port"])
        return None

    def portforward(self, pod: str, port: int) -> PortForward:
        """A forward of the pod's `port` (`kubectl port-forward`: the pods/portforward
        subresource over a websocket, a data and an error channel per port). Its socket reads
        EOF when the pod side ends; its error says why, when the kubelet said."""
        from kubernetes.stream import portforward

        with kube_errors("create", "pods/portforward", self.namespace, "", pod):
            forward: PortForward = portforward(
                self.core.connect_get_namespaced_pod_portforward, pod, self.namespace, ports=str(port)
            )
        return forward

    def endpoints(self, name: str) -> dict[str, Any]:
        with kube_errors("get", "endpoints", self.namespace, "", name):
            return self._json(
                self.core.read_namespaced_endpoints(name, self.namespace, _request_timeout=self.timeout)
            )

    def events(self, kind: str, name: str) -> list[dict[str, Any]]:
        """The events about one object, oldest first (as `kubectl describe` lists them)."""
        selector = f"involvedObject.kind={kind},involvedObject.name={name}"
        with kube_errors("list", "events", self.namespace):
            items = self._json(
                self.core.list_namespaced_event(
                    self.namespace, field_selector=selector, _request_timeout=self.timeout
                )
            ).get("items")
        return list(items or [])


def _drain(socket: Any, stdout: HeadTail, stderr: HeadTail) -> None:
    """Move what the exec's stdout and stderr channels hold into the bounded buffers."""
    stdout.write(str(socket.read_channel(1, timeout=0)).encode())
    stderr.write(str(socket.read_channel(2, timeout=0)).encode())


@contextmanager
def kube_errors(verb: str, resource: str, namespace: str, group: str = "", name: str = "") -> Iterator[None]:
    """Turn the client's exceptions into KubernetesError: unreachable, timed out, refused (a
    403 names the verb, the resource and the Role rule that would allow it), not found."""
    import urllib3.exceptions
    from kubernetes.client.exceptions import ApiException

    what = f"{verb} {resource}" + (f" {name}" if name else "") + f" in namespace {namespace}"
    try:
        yield
    except ApiException as exc:
        message = _status_message(exc)
        status = exc.status
        if status == 0:  # a websocket (exec) whose upgrade was answered with an HTTP error
            handshake = re.search(r"Handshake status (\d+)", str(exc.reason))
            if handshake is None:
                raise KubernetesError(_unreachable(what, str(exc.reason))) from exc
            status, message = int(handshake.group(1)), _handshake_message(str(exc.reason))
        if status == 403:
            raise KubernetesError(
                f"forbidden: {what}: {message}; a Role in namespace {namespace} with the rule "
                f"{role_rule(verb, resource, group)} bound to this user would allow it"
            ) from exc
        if status == 404 or (status == 400 and message.startswith("container not found")):
            raise KubeObjectNotFound(f"not found: {what}: {message}") from exc
        if status == 401:
            raise KubernetesError(f"unauthorized: {what}: the kubeconfig's credentials were refused") from exc
        raise KubernetesError(f"{what}: API server answered {status}: {message}") from exc
    except (urllib3.exceptions.HTTPError, OSError) as exc:
        raise KubernetesError(_unreachable(what, _reason(exc))) from exc


def _unreachable(what: str, reason: str) -> str:
    """Why the API server could not be asked; a certificate the kubeconfig's authority did not
    sign (or a client certificate the server refused) is said to be TLS verification."""
    if re.search(r"CERTIFICATE_VERIFY_FAILED|certificate verify failed|SSL|TLS", reason):
        return (
            f"TLS verification with the Kubernetes API server failed, so it was not asked to {what}: "
            f"{reason} (the kubeconfig's certificate-authority must have signed the server's certificate, "
            "and the server must accept its client certificate)"
        )
    return f"cannot reach the Kubernetes API server to {what}: {reason}"


def _exit_code(status_text: str, pod: str) -> int:
    """The exit code from an exec's status channel (a v1 Status: Success, or NonZeroExitCode
    with the code as its cause); KubernetesError for any other failure."""
    try:
        status = json.loads(status_text or "{}")
    except ValueError as exc:
        raise KubernetesError(f"exec in pod {pod}: unreadable status {status_text[:200]!r}") from exc
    if status.get("status") == "Success":
        return 0
    if status.get("reason") == "NonZeroExitCode":
        for cause in (status.get("details") or {}).get("causes") or []:
            if cause.get("reason") == "ExitCode" and str(cause.get("message", "")).isdigit():
                return int(cause["message"])
    raise KubernetesError(f"exec in pod {pod}: {status.get('message') or 'no exit status'}")


def role_rule(verb: str, resource: str, group: str) -> str:
    """The RBAC rule granting one verb on one resource, as YAML in a Role's `rules:`."""
    return f'{{apiGroups: ["{group}"], resources: ["{resource}"], verbs: ["{verb}"]}}'


def _status_message(exc: Any) -> str:
    try:
        body = json.loads(exc.body or "")
    except (TypeError, ValueError):
        return str(exc.reason or exc.status)
    return str(body.get("message") or exc.reason) if isinstance(body, dict) else str(exc.reason)


def _handshake_message(reason: str) -> str:
    """The Status message in a refused websocket upgrade's body, else the reason as is."""
    found = re.search(r'"message"\s*:\s*"((?:[^"\\]|\\.)*)"', reason)
    return found.group(1).replace('\\"', '"') if found else reason[:300]


def _reason(exc: BaseException) -> str:
    reason = getattr(exc, "reason", None)
    return str(reason or exc)


def _owned_by(obj: Mapping[str, Any], uid: str | None) -> bool:
    owners = (obj.get("metadata") or {}).get("ownerReferences") or []
    return uid is None or any(o.get("uid") == uid and o.get("controller") for o in owners)


def selector_text(selector: Mapping[str, Any]) -> str:
    """A label selector (`matchLabels` or plain labels) as the query's `labelSelector`."""
    labels = selector.get("matchLabels", selector) if isinstance(selector, Mapping) else {}
    parts = [f"{key}={value}" for key, value in sorted(labels.items()) if isinstance(value, str)]
    for expression in selector.get("matchExpressions") or []:
        values = ",".join(expression.get("values") or [])
        operator = expression.get("operator")
        if operator == "In":
            parts.append(f"{expression['key']} in ({values})")
        elif operator == "NotIn":
            parts.append(f"{expression['key']} notin ({values})")
        elif operator == "Exists":
            parts.append(str(expression["key"]))
        elif operator == "DoesNotExist":
            parts.append(f"!{expression['key']}")
    return ",".join(parts)


# --- what kubectl concludes -----------------------------------------------------------------


@dataclass(frozen=True)
class RolloutStatus:
    """`kubectl rollout status`'s verdict on a deployment."""

    done: bool
    failed: bool
    """The Progressing condition says ProgressDeadlineExceeded: waiting longer will not help."""
    message: str


def rollout_status(deployment: Mapping[str, Any]) -> RolloutStatus:
    """kubectl's DeploymentStatusViewer, rule for rule: the controller must have observed the
    current generation; then the progress deadline, updated replicas against the spec, old
    replicas still terminating, updated replicas not yet available."""
    name = deployment["metadata"]["name"]
    spec = deployment.get("spec") or {}
    status = deployment.get("status") or {}
    generation = int(deployment["metadata"].get("generation") or 0)
    if generation > int(status.get("observedGeneration") or 0):
        return RolloutStatus(False, False, "Waiting for deployment spec update to be observed...")
    progressing = condition(status, "Progressing")
    if progressing is not None and progressing.get("reason") == "ProgressDeadlineExceeded":
        return RolloutStatus(False, True, f'deployment "{name}" exceeded its progress deadline')
    replicas = int(status.get("replicas") or 0)
    updated = int(status.get("updatedReplicas") or 0)
    available = int(status.get("availableReplicas") or 0)
    wanted = spec.get("replicas")
    if wanted is not None and updated < int(wanted):
        return RolloutStatus(
            False,
            False,
            f'Waiting for deployment "{name}" rollout to finish: {updated} out of {wanted} new replicas '
            "have been updated...",
        )
    if replicas > updated:
        return RolloutStatus(
            False,
            False,
            f'Waiting for deployment "{name}" rollout to finish: {replicas - updated} old replicas are '
            "pending termination...",
        )
    if available < updated:
        return RolloutStatus(
            False,
            False,
            f'Waiting for deployment "{name}" rollout to finish: {available} of {updated} updated '
            "replicas are available...",
        )
    return RolloutStatus(True, False, f'deployment "{name}" successfully rolled out')


def condition(status: Mapping[str, Any], kind: str) -> Mapping[str, Any] | None:
    """The status condition of one type, or None."""
    return next((c for c in status.get("conditions") or [] if c.get("type") == kind), None)


def pod_ready(pod: Mapping[str, Any]) -> bool:
    """Whether the pod's Ready condition is True (it passes its readiness probe)."""
    conditions = (pod.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def revision(obj: Mapping[str, Any]) -> int:
    """An object's rollout revision (its revision annotation), 0 when it has none."""
    value = ((obj.get("metadata") or {}).get("annotations") or {}).get(REVISION, "")
    return int(value) if str(value).isdigit() else 0


def without_hash(template: Mapping[str, Any]) -> dict[str, Any]:
    """A pod template without the controller's pod-template-hash label (kubectl compares and
    writes back templates this way)."""
    copy: dict[str, Any] = json.loads(json.dumps(template))
    labels = (copy.get("metadata") or {}).get("labels")
    if isinstance(labels, dict):
        labels.pop(TEMPLATE_HASH, None)
    return copy


def same_template(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    """kubectl's EqualIgnoreHash."""
    return without_hash(a) == without_hash(b)


def template_id(template: Mapping[str, Any]) -> str:
    """A stable identity of what a pod template runs: the hash label and the restart
    annotation are left out, because a `rollout restart` runs the same version again. How the
    healthy versions of a deployment are recorded and matched to its ReplicaSets."""
    plain = without_hash(template)
    annotations = (plain.get("metadata") or {}).get("annotations")
    if isinstance(annotations, dict):
        annotations.pop(RESTARTED_AT, None)
        if not annotations:
            del plain["metadata"]["annotations"]
    text = json.dumps(plain, sort_keys=True, separators=(",", ":"))
    return "template:" + hashlib.sha256(text.encode()).hexdigest()[:16]


def images(template: Mapping[str, Any]) -> str:
    """The template's container images, as one text."""
    containers = (template.get("spec") or {}).get("containers") or []
    return ",".join(str(c.get("image") or "") for c in containers)
