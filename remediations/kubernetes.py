"""Kubernetes actions, each what a kubectl command does and each idempotent: rollout restart,
rollout undo (refused when the database schema moved since, as `docker_rollback`), scale,
delete a pod, wait for a rollout. The cluster is the host's (see `checks.kubernetes`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import Field, model_validator

from engine.clients.kubernetes import (
    ANNOTATIONS_NOT_COPIED,
    RESTARTED_AT,
    Kube,
    KubeRef,
    images,
    kube,
    pod_ready,
    revision,
    rollout_status,
    same_template,
    template_id,
    without_hash,
)
from engine.errors import KubeconfigError, KubernetesError
from engine.kit import ActionContext, ActionResult, ActionStatus, Duration, action_type
from remediations.base import Action, schema_refusal

ROLLED_BACK_FROM = "remediate.io/rolled-back-from"
"""Deployment annotation: the pod templates (`template_id`) a `k8s_rollout_undo` rolled away
from, newest last, so that undoing again goes further back instead of returning to them."""
_KEEP_ROLLED_BACK_FROM = 10
_REQUEST_TIMEOUT = 30.0


class DeploymentAction(Action, KubeRef):
    """Options of the actions on one deployment."""

    deployment: str = Field(description="the deployment's name")

    def target(self) -> str:
        """How kubectl names it: `deployment/NAME [-n NAMESPACE]`."""
        return f"deployment/{self.deployment}" + (f" -n {self.namespace}" if self.namespace else "")

    def apply(self, ctx: ActionContext) -> ActionResult:
        try:
            # Each request is bounded on its own: a wait makes many within its step's timeout.
            with kube(ctx, self.namespace, min(ctx.timeout, _REQUEST_TIMEOUT)) as api:
                return self.act(ctx, api)
        except (KubernetesError, KubeconfigError) as exc:
            return ActionResult.failed(str(exc))

    def act(self, ctx: ActionContext, api: Kube) -> ActionResult:
        raise NotImplementedError


@action_type("k8s_rollout_restart")
class RolloutRestartAction(DeploymentAction):
    """`kubectl rollout restart`: sets the `kubectl.kubernetes.io/restartedAt` annotation of the
    pod template, so that the controller replaces every pod. A restart made less than
    `not_within` ago is not repeated (`ok`): its rollout is still going."""

    not_within: Duration = Field(
        30.0, description="a restart annotated less than this long ago counts as done"
    )

    def describe(self) -> str:
        return f"kubectl rollout restart {self.target()} (sets {RESTARTED_AT} on its pod template)"

    def act(self, ctx: ActionContext, api: Kube) -> ActionResult:
        deployment = api.deployment(self.deployment)
        if deployment["spec"].get("paused"):
            return ActionResult.failed(
                f"can't restart paused deployment {self.deployment} (run rollout resume first)"
            )
        annotations = (deployment["spec"]["template"].get("metadata") or {}).get("annotations") or {}
        now = ctx.clock.now()
        earlier = _parse_time(annotations.get(RESTARTED_AT))
        if earlier is not None and (now - earlier).total_seconds() < self.not_within:
            return ActionResult.ok(f"{self.target()} was restarted at {annotations[RESTARTED_AT]} already")
        stamp = now.strftime("%Y-%m-%dT%H:%M:%SZ")
        patch = {"spec": {"template": {"metadata": {"annotations": {RESTARTED_AT: stamp}}}}}
        api.patch_deployment(self.deployment, patch)
        return ActionResult.changed(f"deployment.apps/{self.deployment} restarted (restartedAt {stamp})")


def _parse_time(text: Any) -> datetime | None:
    if not isinstance(text, str):
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


@dataclass(frozen=True)
class _RecordedTemplate:
    """A recorded healthy version matched to a ReplicaSet, as `schema_refusal` reads it."""

    image_id: str
    image: str
    alembic_revision: str
    seen_at: datetime


@action_type("k8s_rollout_undo")
class RolloutUndoAction(DeploymentAction):
    """`kubectl rollout undo`: the pod template of the ReplicaSet of an earlier revision is
    written back to the deployment (JSON patch of `spec.template` and the annotations, the
    `pod-template-hash` label removed), and the controller rolls it out as a new revision.
    Without `to_revision` it goes to the newest revision that runs something else: unlike
    kubectl, a revision that differs only by a `rollout restart` is not a version to go back to
    (kubectl's undo after a restart only undoes the restart), and templates an earlier undo
    rolled away from are skipped (a second undo goes further back, never forth). Refused when the
    database's alembic revision (the playbook's `alembic_node`) moved since that template was
    recorded healthy, or when no healthy record of it says which revision it ran with, unless
    `allow_schema_change`."""

    to_revision: int | None = Field(
        None, ge=1, description="the revision to go back to (default: the previous one)"
    )
    allow_schema_change: bool = Field(
        False, description="roll back even when the alembic revision moved since that template was healthy"
    )

    def describe(self) -> str:
        flag = f" --to-revision={self.to_revision}" if self.to_revision else ""
        guard = "" if self.allow_schema_change else "; refused if the alembic revision moved since"
        return (
            f"kubectl rollout undo {self.target()}{flag} (its ReplicaSet's pod template written back{guard})"
        )

    def act(self, ctx: ActionContext, api: Kube) -> ActionResult:
        deployment = api.deployment(self.deployment)
        if deployment["spec"].get("paused"):
            return ActionResult.failed(
                "you cannot rollback a paused deployment; resume it first with "
                "'kubectl rollout resume' and try again"
            )
        current = deployment["spec"]["template"]
        annotations: dict[str, str] = dict(deployment["metadata"].get("annotations") or {})
        rolled_from = [t for t in annotations.get(ROLLED_BACK_FROM, "").split(",") if t]
        history = api.replica_sets(deployment)
        if self.to_revision is not None:
            target = next((rs for rs in history if revision(rs) == self.to_revision), None)
            if target is None:
                return ActionResult.failed(f"unable to find specified revision {self.to_revision} in history")
        else:
            skipped = {*rolled_from, template_id(current)}
            older = [
                rs for rs in history if revision(rs) and template_id(rs["spec"]["template"]) not in skipped
            ]
            if not older:
                return ActionResult.failed(
                    f'no rollout history found for deployment "{self.deployment}" other than the '
                    "revisions it runs or was rolled back from"
                )
            target = max(older, key=revision)
        number = revision(target)
        if same_template(target["spec"]["template"], current):
            return ActionResult.ok(f"skipped rollback (current template already matches revision {number})")
        refusal = self._schema_refusal(ctx, api, target)
        if refusal is not None:
            return ActionResult(ActionStatus.REFUSED, refusal)
        kept = {k: v for k, v in annotations.items() if k in ANNOTATIONS_NOT_COPIED}
        copied = {
            k: v
            for k, v in ((target["metadata"].get("annotations") or {}).items())
            if k not in ANNOTATIONS_NOT_COPIED and k != ROLLED_BACK_FROM
        }
        rolled_from = [*rolled_from, template_id(current)][-_KEEP_ROLLED_BACK_FROM:]
        patch = [
            {"op": "replace", "path": "/spec/template", "value": without_hash(target["spec"]["template"])},
            {
                "op": "replace",
                "path": "/metadata/annotations",
                "value": {**kept, **copied, ROLLED_BACK_FROM: ",".join(rolled_from)},
            },
        ]
        api.patch_deployment(self.deployment, patch, json_patch=True)
        return ActionResult.changed(
            f"deployment.apps/{self.deployment} rolled back from revision {revision(deployment)} "
            f"({images(current)}) to revision {number} ({images(target['spec']['template'])})"
        )

    def _schema_refusal(self, ctx: ActionContext, api: Kube, target: dict[str, Any]) -> str | None:
        if self.allow_schema_change or ctx.schema_revision is None:
            return None
        wanted = template_id(target["spec"]["template"])
        recorded = list(ctx.versions(api.namespace, self.deployment)) if ctx.versions is not None else []
        match = next((v for v in recorded if v.image_id == wanted), None)
        number = revision(target)
        if match is None:
            return (
                f"refused: revision {number} of {self.deployment} ({images(target['spec']['template'])}) "
                "was never recorded healthy, so the alembic revision it ran with is unknown "
                "(allow_schema_change: true to roll back anyway)"
            )
        described = _RecordedTemplate(
            match.image_id, f"revision {number} ({match.image})", match.alembic_revision, match.seen_at
        )
        return schema_refusal(ctx, self.deployment, described)


@action_type("k8s_scale")
class ScaleAction(DeploymentAction):
    """`kubectl scale --replicas=N`: sets the deployment's replicas through its scale
    subresource; `ok` when it already asks for N."""

    replicas: int = Field(ge=0, description="how many replicas the deployment should run")

    def describe(self) -> str:
        return f"kubectl scale {self.target()} --replicas={self.replicas}"

    def act(self, ctx: ActionContext, api: Kube) -> ActionResult:
        deployment = api.deployment(self.deployment)
        before = deployment["spec"].get("replicas")
        if before == self.replicas:
            return ActionResult.ok(f"{self.target()} already has {self.replicas} replicas")
        api.scale(self.deployment, self.replicas)
        return ActionResult.changed(
            f"deployment.apps/{self.deployment} scaled from {before} to {self.replicas}"
        )


@action_type("k8s_delete_pod")
class DeletePodAction(Action, KubeRef):
    """`kubectl delete pod`: one pod by name, or the pods of a deployment (or carrying some
    labels, as a StatefulSet's do) that are not ready: their controller starts fresh ones.
    `ok` when there is nothing to delete (the pod is gone, every pod is ready)."""

    pod: str | None = Field(None, description="the pod's name")
    deployment: str | None = Field(None, description="delete this deployment's pods that are not ready")
    selector: dict[str, str] | None = Field(
        None, description="delete the pods with these labels that are not ready"
    )

    @model_validator(mode="after")
    def _names_pods(self) -> DeletePodAction:
        if sum(option is not None for option in (self.pod, self.deployment, self.selector)) != 1:
            raise ValueError("name the pods by one of `pod`, `deployment` or `selector`")
        return self

    def describe(self) -> str:
        namespace = f" -n {self.namespace}" if self.namespace else ""
        if self.pod is not None:
            return f"kubectl delete pod {self.pod}{namespace}"
        return f"kubectl delete pod{namespace}: the pods of {self._owner()} that are not ready"

    def _owner(self) -> str:
        if self.deployment is not None:
            return f"deployment/{self.deployment}"
        return "-l " + ",".join(f"{k}={v}" for k, v in sorted((self.selector or {}).items()))

    def apply(self, ctx: ActionContext) -> ActionResult:
        try:
            with kube(ctx, self.namespace, min(ctx.timeout, _REQUEST_TIMEOUT)) as api:
                if self.pod is not None:
                    if api.delete_pod(self.pod):
                        return ActionResult.changed(f'pod "{self.pod}" deleted')
                    return ActionResult.ok(f'pod "{self.pod}" is already gone')
                if self.deployment is not None:
                    selector = api.deployment(self.deployment)["spec"]["selector"]
                else:
                    selector = {"matchLabels": self.selector}
                stuck = [p["metadata"]["name"] for p in api.pods(selector) if not pod_ready(p)]
                if not stuck:
                    return ActionResult.ok(f"every pod of {self._owner()} is ready")
                deleted = [name for name in stuck if api.delete_pod(name)]
                return ActionResult.changed(
                    f"deleted {len(deleted)} pods that were not ready: {', '.join(deleted)}"
                )
        except (KubernetesError, KubeconfigError) as exc:
            return ActionResult.failed(str(exc))


@action_type("k8s_rollout_wait")
class RolloutWaitAction(DeploymentAction):
    """`kubectl rollout status --timeout`: waits until the deployment is rolled out; fails at
    once when its progress deadline was exceeded, or when `timeout` passes. Changes nothing."""

    timeout: Duration = Field(300.0, description="how long to wait for the rollout")
    interval: Duration = Field(1.0, description="time between two looks")

    def default_timeout(self) -> float:
        return self.timeout + 30.0

    def describe(self) -> str:
        return f"kubectl rollout status {self.target()} --timeout={self.timeout:g}s"

    def act(self, ctx: ActionContext, api: Kube) -> ActionResult:
        started = ctx.clock.monotonic()
        while True:
            status = rollout_status(api.deployment(self.deployment))
            if status.done:
                return ActionResult.ok(status.message)
            if status.failed:
                return ActionResult.failed(status.message)
            if ctx.clock.monotonic() - started >= self.timeout:
                return ActionResult.failed(f"timed out after {self.timeout:g}s: {status.message}")
            ctx.clock.sleep(self.interval)
