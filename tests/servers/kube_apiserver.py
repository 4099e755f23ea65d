"""A stand-in for a Kubernetes API server, which cannot run here (no cluster, no image registry,
no kube-apiserver binary reachable). It is NOT Kubernetes: it serves, on a loopback port, the subset of the API that the kubernetes check and action
types use, with the API's real JSON shapes, and plays the deployment controller's rollout
bookkeeping so that the real `kubernetes` client and kubectl's rules can be exercised end to end:

- `apps/v1` deployments: get, patch (strategic merge and JSON merge patch as a recursive merge,
  JSON patch `add`/`replace`/`remove`), the `scale` subresource; `metadata.generation` moves
  when the spec changes, `status.observedGeneration` follows once the rollout is observed.
- `apps/v1` replicasets: list by label selector. One ReplicaSet per pod template, named
  `<deployment>-<pod-template-hash>`, owned by the deployment; a template seen again reuses its
  ReplicaSet; the newest gets `deployment.kubernetes.io/revision` = highest + 1 (as the
  controller does on `kubectl rollout undo`) and the deployment carries the same annotation.
- `v1` pods: list by label selector, delete (the ReplicaSet replaces the pod under a new name).
- `v1` services: get; `v1` endpoints: get (a service's ports, named target ports resolved
  through the pods' container ports, its ready and not-ready pods); `v1` pods: get; `v1`
  events: list by field selector.
- `v1` pods/exec over a websocket (`v4.channel.k8s.io`: stdout on channel 1, stderr on 2, the
  Status on 3): the command runs as a subprocess of this process, standing in for the
  container; a pod that is not ready refuses the upgrade as the kubelet does (container not
  running).
- `v1` pods/portforward over a websocket (`v4.channel.k8s.io`, as the kubelet speaks it: per
  requested port a data channel 2i and an error channel 2i+1, each opened by a frame holding
  the port as 2 little-endian bytes); a pod's port is a real loopback server set with
  `Cluster.listen` (PostgreSQL, Redis, HTTP from tests/servers), connected when the websocket
  opens; a refusal is written on the error channel in the kubelet's words and the websocket
  closed, as is the end of the server's side.
- Optionally HTTPS (`Pki`): a CA it generates, a server certificate for 127.0.0.1, and a client
  certificate it requires (the kubeconfig's certificate-authority-data, client-certificate-data
  and client-key-data); without TLS, a bearer token.
- Pod health follows the template's first image: an image listed in `crashing` gives pods in
  CrashLoopBackOff (restarting, last terminated with `Error`), in `oom` pods last terminated
  `OOMKilled`; others are ready. A deployment whose new pods never become ready shows its
  Progressing condition False with reason ProgressDeadlineExceeded after `deadline` seconds.
- `forbid`: a set of (verb, resource) pairs answered 403 with the API's Status body.

Every change is observed after `observe_delay` seconds, so that waiting for a rollout waits.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import re
import select
import socket
import ssl
import struct
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from websocket import ABNF, WebSocketException, frame_buffer

from tests.support.http_server import LoopbackHTTPServer

REVISION = "deployment.kubernetes.io/revision"
TOKEN = "stand-in-token"


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _template_hash(template: dict[str, Any]) -> str:
    clean = copy.deepcopy(template)
    (clean.get("metadata") or {}).get("labels", {}).pop("pod-template-hash", None)
    digest = hashlib.sha256(json.dumps(clean, sort_keys=True).encode()).hexdigest()
    return "".join(c for c in digest if c in "bcdfghjklmnpqrstvwxz2456789")[:10]


def _merge(target: dict[str, Any], patch: dict[str, Any]) -> None:
    for key, value in patch.items():
        if value is None:
            target.pop(key, None)
        elif isinstance(value, dict) and isinstance(target.get(key), dict):
            _merge(target[key], value)
        else:
            target[key] = copy.deepcopy(value)


def _json_patch(target: dict[str, Any], operations: list[dict[str, Any]]) -> None:
    for operation in operations:
        parts = [p.replace("~1", "/").replace("~0", "~") for p in operation["path"].split("/")[1:]]
        parent: Any = target
        for part in parts[:-1]:
            parent = parent.setdefault(part, {})
        if operation["op"] in ("add", "replace"):
            parent[parts[-1]] = copy.deepcopy(operation["value"])
        elif operation["op"] == "remove":
            parent.pop(parts[-1], None)
        else:
            raise ValueError(f"unsupported op {operation['op']}")


@dataclass
class Cluster:
    """The stand-in's state: deployments, their ReplicaSets and pods, services' endpoints."""

    namespace: str = "production"
    crashing: set[str] = field(default_factory=set)
    oom: set[str] = field(default_factory=set)
    forbid: set[tuple[str, str]] = field(default_factory=set)
    observe_delay: float = 0.3
    deadline: float = 1.0
    deployments: dict[str, dict[str, Any]] = field(default_factory=dict)
    replica_sets: dict[str, dict[str, Any]] = field(default_factory=dict)
    pods: dict[str, dict[str, Any]] = field(default_factory=dict)
    services: dict[str, str] = field(default_factory=dict)
    """Service name -> the deployment whose ready pods are its endpoints."""
    service_ports: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    """Service name -> its spec's ports (`name`, `port`, `targetPort`: a number or a name)."""
    listening: dict[tuple[str, int], tuple[str, int]] = field(default_factory=dict)
    """(deployment, container port) -> the real loopback server its pods' port forwards to."""
    requests: list[tuple[str, str, str]] = field(default_factory=list)
    """(method, path, content type) of every request, for tests to assert what was sent."""
    lock: threading.RLock = field(default_factory=threading.RLock)
    _changed: dict[str, float] = field(default_factory=dict)
    _pod_serial: int = 0

    # --- setting up --------------------------------------------------------------------

    def add_deployment(
        self, name: str, image: str, replicas: int = 2, ports: dict[str, int] | None = None
    ) -> None:
        """A deployment `name` with one container `name` running `image`, rolled out; `ports`
        are the container's named ports."""
        with self.lock:
            labels = {"app": name}
            container: dict[str, Any] = {"name": name, "image": image}
            if ports:
                container["ports"] = [
                    {"name": port_name, "containerPort": number, "protocol": "TCP"}
                    for port_name, number in ports.items()
                ]
            self.deployments[name] = {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": {
                    "name": name,
                    "namespace": self.namespace,
                    "uid": f"uid-{name}",
                    "generation": 1,
                    "annotations": {},
                    "labels": dict(labels),
                    "creationTimestamp": _now(),
                    "resourceVersion": "1",
                },
                "spec": {
                    "replicas": replicas,
                    "selector": {"matchLabels": dict(labels)},
                    "template": {
                        "metadata": {"labels": dict(labels)},
                        "spec": {"containers": [container]},
                    },
                    "strategy": {"type": "RollingUpdate"},
                    "progressDeadlineSeconds": 600,
                    "revisionHistoryLimit": 10,
                },
                "status": {},
            }
            self._roll(name)
            self._changed[name] = 0.0

    def set_image(self, name: str, image: str) -> None:
        """What `kubectl set image` does: a new template, a new rollout."""
        with self.lock:
            deployment = self.deployments[name]
            deployment["spec"]["template"]["spec"]["containers"][0]["image"] = image
            deployment["metadata"]["generation"] += 1
            self._roll(name)

    def add_service(self, name: str, deployment: str, ports: list[dict[str, Any]] | None = None) -> None:
        """A service selecting the deployment's pods; `ports` as in its spec (default: port
        8000 named http)."""
        with self.lock:
            self.services[name] = deployment
            self.service_ports[name] = ports or [{"name": "http", "port": 8000, "targetPort": 8000}]

    def listen(self, deployment: str, container_port: int, address: tuple[str, int]) -> None:
        """The deployment's pods serve `container_port` by the real server at `address`."""
        with self.lock:
            self.listening[(deployment, container_port)] = address

    def revision_of(self, name: str) -> int:
        with self.lock:
            return int(self.deployments[name]["metadata"]["annotations"].get(REVISION, "0"))

    def image_of(self, name: str) -> str:
        with self.lock:
            return str(self.deployments[name]["spec"]["template"]["spec"]["containers"][0]["image"])

    # --- the controller ------------------------------------------------------------------

    def _roll(self, name: str) -> None:
        """The deployment controller after a template change: find or create the template's
        ReplicaSet, give it the next revision, replace the pods."""
        deployment = self.deployments[name]
        template = deployment["spec"]["template"]
        pod_hash = _template_hash(template)
        rs_name = f"{name}-{pod_hash}"
        revisions = [int(rs["metadata"]["annotations"].get(REVISION, "0")) for rs in self._owned(name)]
        current = self.replica_sets.get(rs_name)
        top = max(revisions, default=0)
        if current is None:
            rs_template = copy.deepcopy(template)
            rs_template["metadata"].setdefault("labels", {})["pod-template-hash"] = pod_hash
            annotations = {k: v for k, v in deployment["metadata"]["annotations"].items() if k != REVISION}
            current = {
                "apiVersion": "apps/v1",
                "kind": "ReplicaSet",
                "metadata": {
                    "name": rs_name,
                    "namespace": self.namespace,
                    "uid": f"uid-{rs_name}",
                    "labels": dict(rs_template["metadata"]["labels"]),
                    "annotations": {**annotations, REVISION: str(top + 1)},
                    "ownerReferences": [
                        {
                            "apiVersion": "apps/v1",
                            "kind": "Deployment",
                            "name": name,
                            "uid": deployment["metadata"]["uid"],
                            "controller": True,
                        }
                    ],
                    "creationTimestamp": _now(),
                },
                "spec": {
                    "replicas": 0,
                    "selector": {"matchLabels": dict(rs_template["metadata"]["labels"])},
                    "template": rs_template,
                },
                "status": {"replicas": 0},
            }
            self.replica_sets[rs_name] = current
        elif int(current["metadata"]["annotations"].get(REVISION, "0")) != top:
            current["metadata"]["annotations"][REVISION] = str(top + 1)
        deployment["metadata"]["annotations"][REVISION] = current["metadata"]["annotations"][REVISION]
        for rs in self._owned(name):
            rs["spec"]["replicas"] = deployment["spec"]["replicas"] if rs is current else 0
        for pod_name in [p for p, pod in self.pods.items() if pod["metadata"]["labels"].get("app") == name]:
            del self.pods[pod_name]
        for _ in range(deployment["spec"]["replicas"]):
            self._new_pod(current)
        self._changed[name] = time.monotonic()

    def _owned(self, name: str) -> list[dict[str, Any]]:
        uid = f"uid-{name}"
        return [
            rs for rs in self.replica_sets.values()
            if any(o["uid"] == uid for o in rs["metadata"]["ownerReferences"])
        ]  # fmt: skip

    def _new_pod(self, rs: dict[str, Any]) -> None:
        self._pod_serial += 1
        pod_hash = rs["metadata"]["labels"]["pod-template-hash"]
        name = f"{rs['metadata']['name']}-p{self._pod_serial:04d}"
        image = rs["spec"]["template"]["spec"]["containers"][0]["image"]
        container = rs["spec"]["template"]["spec"]["containers"][0]["name"]
        healthy = image not in self.crashing and image not in self.oom
        state: dict[str, Any] = {"running": {"startedAt": _now()}}
        last: dict[str, Any] = {}
        restarts = 0
        if not healthy:
            reason = "OOMKilled" if image in self.oom else "Error"
            state = {
                "waiting": {
                    "reason": "CrashLoopBackOff",
                    "message": "back-off 40s restarting failed container",
                }
            }
            last = {
                "terminated": {
                    "exitCode": 137 if reason == "OOMKilled" else 1,
                    "reason": reason,
                    "finishedAt": _now(),
                }
            }
            restarts = 6
        self.pods[name] = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": name,
                "namespace": self.namespace,
                "labels": dict(
                    rs["spec"]["template"]["metadata"]["labels"], **{"pod-template-hash": pod_hash}
                ),
                "ownerReferences": [
                    {
                        "apiVersion": "apps/v1",
                        "kind": "ReplicaSet",
                        "name": rs["metadata"]["name"],
                        "uid": rs["metadata"]["uid"],
                        "controller": True,
                    }
                ],
                "creationTimestamp": datetime.fromtimestamp(time.time() - 600, UTC).strftime(
                    "%Y-%m-%dT%H:%M:%SZ"
                ),
            },
            "spec": copy.deepcopy(rs["spec"]["template"]["spec"]),
            "status": {
                "phase": "Running",
                "podIP": f"10.0.0.{self._pod_serial % 250 + 1}",
                "conditions": [{"type": "Ready", "status": "True" if healthy else "False"}],
                "containerStatuses": [
                    {
                        "name": container,
                        "image": image,
                        "imageID": "",
                        "ready": healthy,
                        "started": healthy,
                        "restartCount": restarts,
                        "state": state,
                        "lastState": last,
                    }
                ],
            },
        }

    def _pod_ready(self, pod: dict[str, Any]) -> bool:
        return all(c["ready"] for c in pod["status"]["containerStatuses"])

    def _observe(self, name: str) -> None:
        """The status the controller reports now."""
        deployment = self.deployments[name]
        since = time.monotonic() - self._changed.get(name, 0.0)
        status = deployment["status"]
        if since < self.observe_delay:
            return
        pods = [p for p in self.pods.values() if p["metadata"]["labels"].get("app") == name]
        ready = sum(1 for p in pods if self._pod_ready(p))
        replicas = deployment["spec"]["replicas"]
        status.update(
            observedGeneration=deployment["metadata"]["generation"],
            replicas=len(pods),
            updatedReplicas=len(pods),
            readyReplicas=ready,
            availableReplicas=ready,
            unavailableReplicas=max(0, replicas - ready),
        )
        if ready >= replicas:
            progressing = {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable"}
        elif since < self.observe_delay + self.deadline:
            progressing = {"type": "Progressing", "status": "True", "reason": "ReplicaSetUpdated"}
        else:
            progressing = {"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded"}
        available = {
            "type": "Available",
            "status": "True" if ready >= replicas else "False",
            "reason": "MinimumReplicasAvailable",
        }
        status["conditions"] = [
            {**available, "lastUpdateTime": _now(), "lastTransitionTime": _now(), "message": ""},
            {**progressing, "lastUpdateTime": _now(), "lastTransitionTime": _now(), "message": ""},
        ]
        for rs in self._owned(name):
            count = sum(
                1
                for p in pods
                if p["metadata"]["labels"]["pod-template-hash"]
                == rs["metadata"]["labels"]["pod-template-hash"]
            )
            rs["status"] = {"replicas": count, "observedGeneration": 1}

    # --- the API -------------------------------------------------------------------------

    def handle(
        self, method: str, path: str, query: dict[str, list[str]], body: Any, content_type: str
    ) -> tuple[int, Any]:
        with self.lock:
            self.requests.append((method, path, content_type))
            return self._route(method, path, query, body, content_type)

    def _forbidden(self, verb: str, resource: str, group: str, name: str) -> tuple[int, Any]:
        return 403, _status(
            403,
            "Forbidden",
            f'{resource} "{name}" is forbidden: User "system:serviceaccount:{self.namespace}:remediate" '
            f'cannot {verb} resource "{resource.split("/")[0]}" in API group "{group}" in the namespace "{self.namespace}"',
        )

    def _route(
        self, method: str, path: str, query: dict[str, list[str]], body: Any, content_type: str
    ) -> tuple[int, Any]:
        ns = re.escape(self.namespace)
        selector = (query.get("labelSelector") or [""])[0]
        if m := re.fullmatch(rf"/apis/apps/v1/namespaces/{ns}/deployments/([^/]+)(/scale)?", path):
            name, scale = m.group(1), bool(m.group(2))
            verb = {"GET": "get", "PATCH": "patch"}.get(method, method.lower())
            resource = "deployments/scale" if scale else "deployments"
            if (verb, resource) in self.forbid:
                return self._forbidden(verb, resource, "apps", name)
            deployment = self.deployments.get(name)
            if deployment is None:
                return 404, _status(404, "NotFound", f'deployments.apps "{name}" not found')
            if method == "PATCH":
                self._patch(name, body, content_type, scale)
            self._observe(name)
            if scale:
                return 200, {
                    "apiVersion": "autoscaling/v1", "kind": "Scale",
                    "metadata": {"name": name, "namespace": self.namespace},
                    "spec": {"replicas": deployment["spec"]["replicas"]},
                    "status": {"replicas": deployment["status"].get("replicas", 0), "selector": "app=" + name},
                }  # fmt: skip
            return 200, deployment
        if re.fullmatch(rf"/apis/apps/v1/namespaces/{ns}/replicasets", path) and method == "GET":
            if ("list", "replicasets") in self.forbid:
                return self._forbidden("list", "replicasets", "apps", "")
            for name in self.deployments:
                self._observe(name)
            items = [rs for rs in self.replica_sets.values() if _matches(rs["metadata"]["labels"], selector)]
            return 200, _list("ReplicaSetList", "apps/v1", items)
        if re.fullmatch(rf"/api/v1/namespaces/{ns}/pods", path) and method == "GET":
            if ("list", "pods") in self.forbid:
                return self._forbidden("list", "pods", "", "")
            items = [p for p in self.pods.values() if _matches(p["metadata"]["labels"], selector)]
            return 200, _list("PodList", "v1", sorted(items, key=lambda p: p["metadata"]["name"]))
        if (m := re.fullmatch(rf"/api/v1/namespaces/{ns}/pods/([^/]+)", path)) and method == "DELETE":
            name = m.group(1)
            if ("delete", "pods") in self.forbid:
                return self._forbidden("delete", "pods", "", name)
            pod = self.pods.pop(name, None)
            if pod is None:
                return 404, _status(404, "NotFound", f'pods "{name}" not found')
            owner = pod["metadata"]["ownerReferences"][0]["name"]
            if owner in self.replica_sets:
                self._new_pod(self.replica_sets[owner])
            return 200, pod
        if (m := re.fullmatch(rf"/api/v1/namespaces/{ns}/services/([^/]+)", path)) and method == "GET":
            name = m.group(1)
            if ("get", "services") in self.forbid:
                return self._forbidden("get", "services", "", name)
            if name not in self.services:
                return 404, _status(404, "NotFound", f'services "{name}" not found')
            return 200, {
                "apiVersion": "v1", "kind": "Service",
                "metadata": {"name": name, "namespace": self.namespace},
                "spec": {
                    "selector": {"app": self.services[name]}, "type": "ClusterIP", "clusterIP": "10.96.0.10",
                    "ports": [{"protocol": "TCP", **port} for port in self.service_ports[name]],
                },
            }  # fmt: skip
        if (m := re.fullmatch(rf"/api/v1/namespaces/{ns}/pods/([^/]+)", path)) and method == "GET":
            pod = self.pods.get(m.group(1))
            if pod is None:
                return 404, _status(404, "NotFound", f'pods "{m.group(1)}" not found')
            return 200, pod
        if m := re.fullmatch(rf"/api/v1/namespaces/{ns}/endpoints/([^/]+)", path):
            name = m.group(1)
            if ("get", "endpoints") in self.forbid:
                return self._forbidden("get", "endpoints", "", name)
            if name not in self.services:
                return 404, _status(404, "NotFound", f'endpoints "{name}" not found')
            app = self.services[name]
            pods = [p for p in self.pods.values() if p["metadata"]["labels"].get("app") == app]
            ready = [
                {"ip": p["status"]["podIP"], "targetRef": {"kind": "Pod", "name": p["metadata"]["name"]}}
                for p in pods
                if self._pod_ready(p)
            ]
            not_ready = [
                {"ip": p["status"]["podIP"], "targetRef": {"kind": "Pod", "name": p["metadata"]["name"]}}
                for p in pods
                if not self._pod_ready(p)
            ]
            subset: dict[str, Any] = {"ports": self._endpoint_ports(name, pods)}
            if ready:
                subset["addresses"] = ready
            if not_ready:
                subset["notReadyAddresses"] = not_ready
            return 200, {
                "apiVersion": "v1", "kind": "Endpoints",
                "metadata": {"name": name, "namespace": self.namespace},
                "subsets": [subset] if pods else [],
            }  # fmt: skip
        if re.fullmatch(rf"/api/v1/namespaces/{ns}/events", path) and method == "GET":
            fields = dict(
                part.split("=", 1)
                for part in (query.get("fieldSelector") or [""])[0].split(",")
                if "=" in part
            )
            items = []
            for pod in self.pods.values():
                if fields.get("involvedObject.name", pod["metadata"]["name"]) != pod["metadata"]["name"]:
                    continue
                if pod["status"]["containerStatuses"][0]["restartCount"]:
                    items.append({
                        "apiVersion": "v1", "kind": "Event",
                        "metadata": {"name": pod["metadata"]["name"] + ".backoff", "namespace": self.namespace},
                        "involvedObject": {"kind": "Pod", "name": pod["metadata"]["name"], "namespace": self.namespace},
                        "reason": "BackOff", "message": "Back-off restarting failed container", "type": "Warning",
                        "count": 6, "lastTimestamp": _now(),
                    })  # fmt: skip
            return 200, _list("EventList", "v1", items)
        return 404, _status(
            404, "NotFound", f"the server could not find the requested resource ({method} {path})"
        )

    def _endpoint_ports(self, service: str, pods: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The endpoint ports of a service: each port's name with its target port, a named
        target port resolved through the pods' container ports (as the endpoints controller)."""
        resolved = []
        for port in self.service_ports[service]:
            target = port.get("targetPort", port["port"])
            if isinstance(target, str):
                named = [
                    p["containerPort"]
                    for pod in pods[:1]
                    for p in pod["spec"]["containers"][0].get("ports") or []
                    if p["name"] == target
                ]
                if not named:
                    continue
                target = named[0]
            named_port = {"name": port["name"]} if port.get("name") else {}
            resolved.append({**named_port, "port": target, "protocol": "TCP"})
        return resolved

    def _patch(self, name: str, body: Any, content_type: str, scale: bool) -> None:
        deployment = self.deployments[name]
        before = copy.deepcopy(deployment["spec"])
        if "json-patch" in content_type:
            _json_patch(deployment, body)
        elif scale:
            _merge(deployment["spec"], body.get("spec") or {})
        else:
            _merge(deployment, body)
        if deployment["spec"] != before:
            deployment["metadata"]["generation"] += 1
            if deployment["spec"]["template"] != before["template"]:
                self._roll(name)
            elif deployment["spec"]["replicas"] != before["replicas"]:
                self._rescale(name)
        deployment["metadata"]["resourceVersion"] = str(int(deployment["metadata"]["resourceVersion"]) + 1)

    def _rescale(self, name: str) -> None:
        deployment = self.deployments[name]
        current = f"{name}-{_template_hash(deployment['spec']['template'])}"
        rs = self.replica_sets[current]
        rs["spec"]["replicas"] = deployment["spec"]["replicas"]
        pods = [
            p
            for p, pod in self.pods.items()
            if pod["metadata"]["labels"].get("pod-template-hash")
            == rs["metadata"]["labels"]["pod-template-hash"]
        ]
        for extra in pods[deployment["spec"]["replicas"] :]:
            del self.pods[extra]
        for _ in range(deployment["spec"]["replicas"] - len(pods)):
            self._new_pod(rs)
        self._changed[name] = time.monotonic()


def _matches(labels: dict[str, str], selector: str) -> bool:
    for term in filter(None, selector.split(",")):
        key, _, value = term.partition("=")
        if labels.get(key) != value:
            return False
    return True


def _list(kind: str, api_version: str, items: list[dict[str, Any]]) -> dict[str, Any]:
    return {"apiVersion": api_version, "kind": kind, "metadata": {"resourceVersion": "1"}, "items": items}


def _status(code: int, reason: str, message: str) -> dict[str, Any]:
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }


class _Handler(BaseHTTPRequestHandler):
    cluster: Cluster
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        return None

    def _serve(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if not self._authorized():
            self._send(401, _status(401, "Unauthorized", "Unauthorized"))
            return
        parts = urlsplit(self.path)
        body = json.loads(raw) if raw else None
        status, answer = self.cluster.handle(
            method, parts.path, parse_qs(parts.query), body, self.headers.get("Content-Type") or ""
        )
        self._send(status, answer)

    def _send(self, status: int, answer: Any) -> None:
        data = json.dumps(answer).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _authorized(self) -> bool:
        """A client certificate (TLS requires one the CA signed) or the bearer token."""
        if isinstance(self.connection, ssl.SSLSocket) and self.connection.getpeercert():
            return True
        return self.headers.get("Authorization") == f"Bearer {TOKEN}"

    def do_GET(self) -> None:
        if (self.headers.get("Upgrade") or "").lower() != "websocket":
            self._serve("GET")
        elif urlsplit(self.path).path.endswith("/portforward"):
            self._portforward()
        else:
            self._exec()

    def _upgrade(self) -> None:
        """Answer the websocket handshake, choosing the v4 channel protocol."""
        key = self.headers.get("Sec-WebSocket-Key") or ""
        accept = base64.b64encode(
            hashlib.sha1((key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest()
        )
        self.send_response(101)
        self.send_header("Upgrade", "websocket")
        self.send_header("Connection", "Upgrade")
        self.send_header("Sec-WebSocket-Accept", accept.decode())
        self.send_header("Sec-WebSocket-Protocol", "v4.channel.k8s.io")
        self.end_headers()

    def _portforward(self) -> None:
        """`kubectl port-forward`: refuse as the API server would, or upgrade and relay each
        requested port to the real server standing in for the pod's."""
        parts = urlsplit(self.path)
        cluster = self.cluster
        match = re.fullmatch(
            rf"/api/v1/namespaces/{re.escape(cluster.namespace)}/pods/([^/]+)/portforward", parts.path
        )
        if not self._authorized():
            self._send(401, _status(401, "Unauthorized", "Unauthorized"))
            return
        with cluster.lock:
            cluster.requests.append(("GET", parts.path + "?" + parts.query, "websocket"))
            name = match.group(1) if match else ""
            pod = cluster.pods.get(name)
            if ("create", "pods/portforward") in cluster.forbid:
                self._send(*cluster._forbidden("create", "pods/portforward", "", name))
                return
            if pod is None:
                self._send(404, _status(404, "NotFound", f'pods "{name}" not found'))
                return
            if not cluster._pod_ready(pod):
                self._send(400, _status(400, "BadRequest", f"pod {name} is not running"))
                return
            ports = [int(p) for value in parse_qs(parts.query).get("ports", []) for p in value.split(",")]
            app = pod["metadata"]["labels"].get("app", "")
            servers = [cluster.listening.get((app, port)) for port in ports]
        self._upgrade()
        upstreams: dict[socket.socket, int] = {}
        try:
            for index, (port, server) in enumerate(zip(ports, servers, strict=True)):
                prefix = struct.pack("<H", port)
                self._frame(bytes([2 * index]) + prefix)
                self._frame(bytes([2 * index + 1]) + prefix)
                try:
                    if server is None:
                        raise ConnectionRefusedError("connect: connection refused")
                    upstreams[socket.create_connection(server, timeout=5)] = index
                except OSError as exc:
                    self._frame(
                        bytes([2 * index + 1])
                        + f"error forwarding port {port} to pod {name}, uid : failed to connect to "
                        f"localhost:{port} inside namespace: dial tcp4 127.0.0.1:{port}: {exc}".encode()
                    )
            self._relay(upstreams)
        finally:
            for upstream in upstreams:
                upstream.close()
            self._frame(struct.pack("!H", 1000), opcode=ABNF.OPCODE_CLOSE)
            self.close_connection = True

    def _relay(self, upstreams: dict[socket.socket, int]) -> None:
        """Client frames on data channel 2i go to port i's server, what it sends comes back on
        2i; the forward ends when the client closes or a server's side ends (as the kubelet's)."""
        by_index = {index: upstream for upstream, index in upstreams.items()}
        frames = frame_buffer(self.connection.recv, True)
        client = self.connection
        while upstreams:
            pending = isinstance(client, ssl.SSLSocket) and client.pending()
            readable = [client] if pending else select.select([client, *upstreams], [], [], 30)[0]
            if not readable:
                return
            for side in readable:
                if side is client:
                    try:
                        frame = frames.recv_frame()
                    except (OSError, WebSocketException):
                        return
                    if frame.opcode == ABNF.OPCODE_CLOSE:
                        return
                    if frame.opcode == ABNF.OPCODE_BINARY and frame.data and frame.data[0] % 2 == 0:
                        upstream = by_index.get(frame.data[0] // 2)
                        if upstream is not None:
                            upstream.sendall(frame.data[1:])
                else:
                    data = side.recv(65536)
                    if not data:
                        return
                    self._frame(bytes([2 * upstreams[side]]) + data)

    def _exec(self) -> None:
        """`kubectl exec`: refuse as the API server would, or upgrade and stream the command."""
        parts = urlsplit(self.path)
        query = parse_qs(parts.query)
        cluster = self.cluster
        match = re.fullmatch(
            rf"/api/v1/namespaces/{re.escape(cluster.namespace)}/pods/([^/]+)/exec", parts.path
        )
        if not self._authorized():
            self._send(401, _status(401, "Unauthorized", "Unauthorized"))
            return
        with cluster.lock:
            cluster.requests.append(("GET", parts.path, "websocket"))
            name = match.group(1) if match else ""
            pod = cluster.pods.get(name)
            if ("create", "pods/exec") in cluster.forbid:
                self._send(*cluster._forbidden("create", "pods/exec", "", name))
                return
            if pod is None:
                self._send(404, _status(404, "NotFound", f'pods "{name}" not found'))
                return
            if not cluster._pod_ready(pod):
                container = pod["spec"]["containers"][0]["name"]
                self._send(400, _status(400, "BadRequest", f'container not found ("{container}")'))
                return
        self._upgrade()
        argv = query.get("command") or []
        try:
            done = subprocess.run(argv, capture_output=True, timeout=float(query.get("timeout", ["20"])[0]))
        except subprocess.TimeoutExpired:
            return  # the connection drops, as a killed exec's would
        self._frame(b"\x01" + done.stdout)
        self._frame(b"\x02" + done.stderr)
        if done.returncode == 0:
            status: dict[str, Any] = {"metadata": {}, "status": "Success"}
        else:
            status = {
                "metadata": {}, "status": "Failure", "reason": "NonZeroExitCode",
                "message": f"command terminated with non-zero exit code: error executing command {argv}, exit code {done.returncode}",
                "details": {"causes": [{"reason": "ExitCode", "message": str(done.returncode)}]},
            }  # fmt: skip
        self._frame(b"\x03" + json.dumps(status).encode())
        self._frame(struct.pack("!H", 1000), opcode=ABNF.OPCODE_CLOSE)
        self.close_connection = True

    def _frame(self, payload: bytes, opcode: int = ABNF.OPCODE_BINARY) -> None:
        """One unmasked server-to-client websocket frame."""
        try:
            self.wfile.write(ABNF(fin=1, opcode=opcode, mask_value=0, data=payload).format())
            self.wfile.flush()
        except OSError:
            self.close_connection = True  # the client gave up (its timeout): nothing to tell it

    def do_PATCH(self) -> None:
        self._serve("PATCH")

    def do_DELETE(self) -> None:
        self._serve("DELETE")


def _pem(data: x509.Certificate | ec.EllipticCurvePrivateKey) -> bytes:
    if isinstance(data, x509.Certificate):
        return data.public_bytes(serialization.Encoding.PEM)
    return data.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _certificate(
    subject: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: tuple[x509.Certificate, ec.EllipticCurvePrivateKey] | None,
    *,
    usage: x509.ObjectIdentifier | None = None,
) -> x509.Certificate:
    """A certificate for `key`: a self-signed CA without `issuer`, else a leaf it signs
    (a server's for 127.0.0.1, or a client's, by `usage`)."""
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    now = datetime.now(UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer[0].subject if issuer else name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=issuer is None, path_length=None), critical=True)
    )
    if usage is not None:
        builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    if usage == ExtendedKeyUsageOID.SERVER_AUTH:
        import ipaddress

        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False
        )
    return builder.sign(issuer[1] if issuer else key, hashes.SHA256())


@dataclass(frozen=True)
class Pki:
    """The stand-in's TLS material, as PEM: the CA, the server's certificate and key, and a
    client certificate and key the CA signed (the kubeconfig's user)."""

    ca: bytes
    server_cert: bytes
    server_key: bytes
    client_cert: bytes
    client_key: bytes

    @classmethod
    def generate(cls) -> Pki:
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca = _certificate("stand-in CA", ca_key, None)
        server_key, client_key = (
            ec.generate_private_key(ec.SECP256R1()),
            ec.generate_private_key(ec.SECP256R1()),
        )
        server = _certificate(
            "kube-apiserver", server_key, (ca, ca_key), usage=ExtendedKeyUsageOID.SERVER_AUTH
        )
        client = _certificate("remediate", client_key, (ca, ca_key), usage=ExtendedKeyUsageOID.CLIENT_AUTH)
        return cls(_pem(ca), _pem(server), _pem(server_key), _pem(client), _pem(client_key))

    def server_context(self, folder: Path) -> ssl.SSLContext:
        """TLS as the API server: its certificate, and a client certificate the CA signed required."""
        (folder / "server.crt").write_bytes(self.server_cert)
        (folder / "server.key").write_bytes(self.server_key)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(folder / "server.crt", folder / "server.key")
        context.load_verify_locations(cadata=self.ca.decode())
        context.verify_mode = ssl.CERT_REQUIRED
        return context


def write_kubeconfig(
    path: Path, server: str, namespace: str, context: str = "stand-in", pki: Pki | None = None
) -> Path:
    """A kubeconfig for the stand-in, as `kind` or `k3s` write one: with `pki`, the CA and the
    client certificate and key inline (`*-data`); without, a token user over plain HTTP."""
    b64 = lambda data: base64.b64encode(data).decode()  # noqa: E731
    cluster: dict[str, Any] = {"server": server}
    user: dict[str, Any] = {"token": TOKEN}
    if pki is not None:
        cluster["certificate-authority-data"] = b64(pki.ca)
        user = {"client-certificate-data": b64(pki.client_cert), "client-key-data": b64(pki.client_key)}
    path.write_text(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "stand-in", "cluster": cluster}],
                "users": [{"name": "remediate", "user": user}],
                "contexts": [
                    {
                        "name": context,
                        "context": {"cluster": "stand-in", "user": "remediate", "namespace": namespace},
                    }
                ],
                "current-context": context,
            }
        )
    )
    return path


@contextmanager
def kube_apiserver(cluster: Cluster, tls: ssl.SSLContext | None = None) -> Iterator[str]:
    """Serve `cluster` on a loopback port (HTTPS with `tls`); yields the server's URL."""
    handler = type("Handler", (_Handler,), {"cluster": cluster})
    server = LoopbackHTTPServer(("127.0.0.1", 0), handler)
    if tls is not None:
        # The handshake happens in the request's thread, so a stalled client stalls no other.
        server.socket = tls.wrap_socket(server.socket, server_side=True, do_handshake_on_connect=False)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"{'https' if tls else 'http'}://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@dataclass
class StandIn:
    """A served stand-in: its state, its URL, a kubeconfig for it and the host variables
    that point a host at it (kubernetes.core's names)."""

    cluster: Cluster
    url: str
    kubeconfig: Path
    pki: Pki | None = None

    @property
    def hostvars(self) -> dict[str, Any]:
        return {"ansible_connection": "kubernetes", "ansible_kubectl_kubeconfig": str(self.kubeconfig)}


@pytest.fixture
def kube_standin(tmp_path: Path) -> Iterator[StandIn]:
    """A stand-in API server with a rolled-out `backend` deployment (image `backend:1`, two
    replicas) behind a service `backend`, in namespace `production`."""
    cluster = Cluster()
    cluster.add_deployment("backend", "backend:1")
    cluster.add_service("backend", "backend")
    with kube_apiserver(cluster) as url:
        yield StandIn(cluster, url, write_kubeconfig(tmp_path / "kubeconfig", url, cluster.namespace))


@pytest.fixture
def kube_standin_tls(tmp_path: Path) -> Iterator[StandIn]:
    """The stand-in over HTTPS with a CA of its own, requiring a client certificate (the
    kubeconfig carries the CA and the client's certificate and key); `pki` holds them."""
    pki = Pki.generate()
    cluster = Cluster()
    cluster.add_deployment("backend", "backend:1")
    cluster.add_service("backend", "backend")
    with kube_apiserver(cluster, pki.server_context(tmp_path)) as url:
        kubeconfig = write_kubeconfig(tmp_path / "kubeconfig", url, cluster.namespace, pki=pki)
        yield StandIn(cluster, url, kubeconfig, pki)
