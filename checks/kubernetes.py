"""Kubernetes checks: a deployment rolled out and available, its pods not crash-looping, a
service with ready endpoints. The cluster is the host's (`ansible_connection: kubernetes`, or
kubernetes.core's `ansible_kubectl_kubeconfig` / `_context` / `_namespace` variables); the
official `kubernetes` client is imported only when one of these checks runs (extra
`kubernetes`)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import Field, model_validator

from checks.base import Check, CommandLine
from checks.expectations import CommandExpectation, command_text
from engine.clients.kubernetes import (
    Kube,
    KubeRef,
    condition,
    images,
    kube,
    pod_ready,
    revision,
    rollout_status,
    template_id,
)
from engine.errors import KubeconfigError, KubeObjectNotFound, KubernetesError
from engine.kit import CheckResult, ProbeContext, check_type


def deployment_version(kube_api: Kube, deployment: dict[str, Any]) -> dict[str, Any]:
    """What a healthy deployment runs, as the state store records versions: the namespace as
    the project, the deployment as the service, its pod template's identity as the image id
    (a rollback matches ReplicaSets by it)."""
    template = deployment["spec"]["template"]
    return {
        "project": kube_api.namespace,
        "service": deployment["metadata"]["name"],
        "container": deployment["metadata"]["name"],
        "image_id": template_id(template),
        "image": images(template),
        "revision": revision(deployment),
    }


@check_type("k8s_deployment")
class DeploymentCheck(Check, KubeRef):
    """A deployment is rolled out and available, as `kubectl rollout status` judges it (the
    controller observed the current generation, the Progressing condition has not passed its
    deadline, every replica updated, no old replica left, every updated replica available),
    and as many replicas are ready as the spec asks for."""

    deployment: str = Field(description="the deployment's name")

    def probe(self, ctx: ProbeContext) -> CheckResult:
        try:
            with kube(ctx, self.namespace, self.timeout) as api:
                found = api.deployment(self.deployment)
                return self._judge(api, found)
        except KubeObjectNotFound as exc:
            return CheckResult.unhealthy(f"missing: {exc}", deployment=self.deployment)
        except (KubernetesError, KubeconfigError) as exc:
            return CheckResult.error(str(exc), deployment=self.deployment)

    def _judge(self, api: Kube, deployment: dict[str, Any]) -> CheckResult:
        status = deployment.get("status") or {}
        wanted = int((deployment.get("spec") or {}).get("replicas") or 0)
        ready = int(status.get("readyReplicas") or 0)
        progressing = condition(status, "Progressing") or {}
        evidence: dict[str, Any] = {
            "deployment": self.deployment,
            "namespace": api.namespace,
            "revision": revision(deployment),
            "replicas": wanted,
            "updated": int(status.get("updatedReplicas") or 0),
            "ready": ready,
            "available": int(status.get("availableReplicas") or 0),
            "progressing": progressing.get("reason", ""),
        }
        verdict = rollout_status(deployment)
        if not verdict.done:
            return CheckResult.unhealthy(verdict.message, **evidence)
        if ready < wanted:
            return CheckResult.unhealthy(
                f'deployment "{self.deployment}": {ready} of {wanted} replicas ready', **evidence
            )
        evidence["version"] = deployment_version(api, deployment)
        return CheckResult.healthy(verdict.message, **evidence)


@check_type("k8s_pods")
class PodsCheck(Check, KubeRef):
    """The pods of a deployment (or of a label selector) are not crash-looping, were not
    OOMKilled, and do not restart faster than `max_restarts_per_hour` (restarts over the
    pod's age)."""

    deployment: str | None = Field(None, description="the deployment whose pods are checked")
    selector: dict[str, str] | None = Field(
        None, description="labels the pods carry (instead of `deployment`)"
    )
    max_restarts_per_hour: float = Field(
        3.0,
        ge=0,
        description="a container restarting more often than this (on average since its pod "
        "started) is unhealthy",
    )
    min_pods: int = Field(1, ge=0, description="fewer pods than this is unhealthy")

    def probe(self, ctx: ProbeContext) -> CheckResult:
        if (self.deployment is None) == (self.selector is None):
            return CheckResult.error("name the pods by `deployment` or by `selector`, one of them")
        try:
            with kube(ctx, self.namespace, self.timeout) as api:
                if self.deployment is not None:
                    selector = api.deployment(self.deployment)["spec"]["selector"]
                else:
                    selector = {"matchLabels": self.selector}
                pods = api.pods(selector)
        except KubeObjectNotFound as exc:
            return CheckResult.unhealthy(f"missing: {exc}")
        except (KubernetesError, KubeconfigError) as exc:
            return CheckResult.error(str(exc))
        return self._judge(pods, ctx.clock.now())

    def _judge(self, pods: list[dict[str, Any]], now: datetime) -> CheckResult:
        problems: list[str] = []
        restarts: dict[str, int] = {}
        for pod in pods:
            name = pod["metadata"]["name"]
            age_hours = max(_age_seconds(pod, now), 60.0) / 3600
            for container in (pod.get("status") or {}).get("containerStatuses") or []:
                label = f"{name}/{container.get('name')}"
                count = int(container.get("restartCount") or 0)
                restarts[label] = count
                waiting = (container.get("state") or {}).get("waiting") or {}
                last = (container.get("lastState") or {}).get("terminated") or {}
                if waiting.get("reason") == "CrashLoopBackOff":
                    problems.append(
                        f"{label} is crash-looping ({count} restarts, "
                        f"last exit: {last.get('reason') or 'unknown'})"
                    )
                elif last.get("reason") == "OOMKilled":
                    problems.append(f"{label} was OOMKilled ({count} restarts)")
                elif count / age_hours > self.max_restarts_per_hour:
                    problems.append(
                        f"{label} restarted {count} times in {age_hours:.1f} h "
                        f"(more than {self.max_restarts_per_hour:g} an hour)"
                    )
                elif waiting.get("reason") in ("ImagePullBackOff", "ErrImagePull"):
                    problems.append(f"{label} is waiting: {waiting.get('reason')}")
        evidence: dict[str, Any] = {"pods": len(pods), "restarts": restarts}
        if any("OOMKilled" in p for p in problems):
            evidence["oom_killed"] = True
        if problems:
            return CheckResult.unhealthy("; ".join(problems[:5]), problems=problems, **evidence)
        if len(pods) < self.min_pods:
            return CheckResult.unhealthy(f"{len(pods)} pods, expected at least {self.min_pods}", **evidence)
        return CheckResult.healthy(f"{len(pods)} pods, none crash-looping", **evidence)


def _age_seconds(pod: dict[str, Any], now: datetime) -> float:
    started = (pod.get("status") or {}).get("startTime") or pod["metadata"].get("creationTimestamp")
    if not started:
        return 0.0
    when = datetime.fromisoformat(str(started).replace("Z", "+00:00"))
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    return max(0.0, (now - when).total_seconds())


@check_type("k8s_service")
class ServiceCheck(Check, KubeRef):
    """A service has at least `min_ready` ready endpoints (pods passing their readiness probe
    behind it), as `kubectl get endpoints` lists them."""

    service: str = Field(description="the service's name")
    min_ready: int = Field(1, ge=1, description="how many ready endpoints are enough")

    def probe(self, ctx: ProbeContext) -> CheckResult:
        try:
            with kube(ctx, self.namespace, self.timeout) as api:
                endpoints = api.endpoints(self.service)
        except KubeObjectNotFound as exc:
            return CheckResult.unhealthy(f"missing: {exc}", service=self.service)
        except (KubernetesError, KubeconfigError) as exc:
            return CheckResult.error(str(exc), service=self.service)
        ready = [a.get("ip") for s in endpoints.get("subsets") or [] for a in s.get("addresses") or []]
        not_ready = [
            a.get("ip") for s in endpoints.get("subsets") or [] for a in s.get("notReadyAddresses") or []
        ]
        evidence = {"service": self.service, "ready": len(ready), "not_ready": len(not_ready)}
        if len(ready) < self.min_ready:
            return CheckResult.unhealthy(
                f"service {self.service} has {len(ready)} ready endpoints ({len(not_ready)} not ready), "
                f"needs {self.min_ready}",
                **evidence,
            )
        return CheckResult.healthy(f"service {self.service} has {len(ready)} ready endpoints", **evidence)


@check_type("k8s_command")
class PodCommandCheck(Check, KubeRef, CommandExpectation):
    """Runs a read-only command in a pod's container, as `kubectl exec` does (and as
    `docker_command` does in a container): healthy when it exits with `exit_code` and, if
    given, its output matches `stdout_regex`. The pod is named, or the first ready pod of a
    deployment (or with some labels); no ready pod is unhealthy (the service is down)."""

    cmd: CommandLine = Field(
        description="command line (run with sh -c in the container) or argument list (run as is)"
    )
    pod: str | None = Field(None, description="the pod's name")
    deployment: str | None = Field(None, description="run it in a ready pod of this deployment")
    selector: dict[str, str] | None = Field(None, description="run it in a ready pod with these labels")
    container: str | None = Field(None, description="the container (default: the pod's first)")

    @model_validator(mode="after")
    def _names_a_pod(self) -> PodCommandCheck:
        if sum(option is not None for option in (self.pod, self.deployment, self.selector)) != 1:
            raise ValueError("name the pod by one of `pod`, `deployment` or `selector`")
        return self

    def probe(self, ctx: ProbeContext) -> CheckResult:
        argv = ["sh", "-c", self.cmd] if isinstance(self.cmd, str) else list(self.cmd)
        try:
            with kube(ctx, self.namespace, self.timeout) as api:
                pod = self.pod if self.pod is not None else self._ready_pod(api)
                if pod is None:
                    return CheckResult.unhealthy(
                        f"no ready pod of {self._owner()} to run `{command_text(self.cmd)}` in"
                    )
                code, stdout, stderr = api.exec(pod, self.container, argv, self.timeout)
        except KubeObjectNotFound as exc:
            return CheckResult.unhealthy(f"missing: {exc}")
        except (KubernetesError, KubeconfigError) as exc:
            return CheckResult.error(str(exc))
        if code is None:
            return CheckResult.error(
                f"`{command_text(self.cmd)}` did not finish within {self.timeout:g}s in {pod}"
            )
        output = ctx.redactor.text(stdout + stderr)
        return self.judge(code, stdout, output, f"`{command_text(self.cmd)}` in {pod}", pod=pod)

    def _owner(self) -> str:
        if self.deployment is not None:
            return f"deployment/{self.deployment}"
        return ",".join(f"{k}={v}" for k, v in sorted((self.selector or {}).items()))

    def _ready_pod(self, api: Kube) -> str | None:
        if self.deployment is not None:
            selector = api.deployment(self.deployment)["spec"]["selector"]
        else:
            selector = {"matchLabels": self.selector}
        ready = [p["metadata"]["name"] for p in api.pods(selector) if pod_ready(p)]
        return min(ready) if ready else None
