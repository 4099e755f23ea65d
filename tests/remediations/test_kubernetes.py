"""The kubernetes actions, with the real `kubernetes` client against the API server stand-in
(`tests/servers/kube_apiserver.py`): what kubectl would send, the rollout bookkeeping that
follows, and that each is idempotent."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest

from engine.clients.kubernetes import RESTARTED_AT, REVISION, template_id
from engine.core.context import ActionContext, HealthyVersion
from engine.core.results import ActionStatus, CheckResult
from remediations.kubernetes import (
    ROLLED_BACK_FROM,
    DeletePodAction,
    RolloutRestartAction,
    RolloutUndoAction,
    RolloutWaitAction,
    ScaleAction,
)
from tests.servers.kube_apiserver import StandIn
from tests.support.contexts import action_context


def _context(standin: StandIn, timeout: float = 10.0) -> ActionContext:
    context = action_context(timeout)
    context.hostvars = standin.hostvars
    return context


def _template(standin: StandIn) -> dict[str, Any]:
    template: dict[str, Any] = standin.cluster.deployments["backend"]["spec"]["template"]
    return template


def test_rollout_restart_sets_the_annotation_kubectl_sets_and_starts_a_new_revision(
    kube_standin: StandIn,
) -> None:
    result = RolloutRestartAction(deployment="backend").apply(_context(kube_standin))
    assert result.status is ActionStatus.CHANGED, result.detail
    stamp = _template(kube_standin)["metadata"]["annotations"][RESTARTED_AT]
    assert datetime.fromisoformat(stamp.replace("Z", "+00:00")) <= datetime.now(UTC)
    assert kube_standin.cluster.revision_of("backend") == 2
    assert kube_standin.cluster.requests[-1][2] == "application/strategic-merge-patch+json"


def test_a_second_restart_within_not_within_changes_nothing(kube_standin: StandIn) -> None:
    action = RolloutRestartAction(deployment="backend", not_within=60)
    assert action.apply(_context(kube_standin)).status is ActionStatus.CHANGED
    again = action.apply(_context(kube_standin))
    assert again.status is ActionStatus.OK
    assert "was restarted at" in again.detail
    assert kube_standin.cluster.revision_of("backend") == 2


def test_rollout_undo_writes_the_previous_replica_sets_template_back_as_kubectl_does(
    kube_standin: StandIn,
) -> None:
    cluster = kube_standin.cluster
    cluster.crashing.add("backend:2")
    cluster.set_image("backend", "backend:2")
    replica_sets = len(cluster.replica_sets)
    result = RolloutUndoAction(deployment="backend").apply(_context(kube_standin))
    assert result.status is ActionStatus.CHANGED, result.detail
    assert result.detail == (
        "deployment.apps/backend rolled back from revision 2 (backend:2) to revision 1 (backend:1)"
    )
    assert cluster.image_of("backend") == "backend:1"
    # The revision-1 ReplicaSet is reused and renumbered, as the controller does: no new one.
    assert len(cluster.replica_sets) == replica_sets
    assert cluster.revision_of("backend") == 3
    method, path, content_type = cluster.requests[-1]
    assert (method, path, content_type) == (
        "PATCH",
        "/apis/apps/v1/namespaces/production/deployments/backend",
        "application/json-patch+json",
    )
    assert "pod-template-hash" not in _template(kube_standin)["metadata"]["labels"]


def test_undo_after_a_restart_goes_back_to_the_previous_version_not_to_before_the_restart(
    kube_standin: StandIn,
) -> None:
    cluster = kube_standin.cluster
    cluster.set_image("backend", "backend:2")
    assert (
        RolloutRestartAction(deployment="backend").apply(_context(kube_standin)).status
        is ActionStatus.CHANGED
    )
    result = RolloutUndoAction(deployment="backend").apply(_context(kube_standin))
    assert result.status is ActionStatus.CHANGED, result.detail
    assert cluster.image_of("backend") == "backend:1"
    assert "to revision 1 (backend:1)" in result.detail


def test_a_second_undo_goes_further_back_never_forth(kube_standin: StandIn) -> None:
    cluster = kube_standin.cluster
    cluster.set_image("backend", "backend:2")
    cluster.set_image("backend", "backend:3")
    undo = RolloutUndoAction(deployment="backend")
    assert undo.apply(_context(kube_standin)).status is ActionStatus.CHANGED
    assert cluster.image_of("backend") == "backend:2"
    assert undo.apply(_context(kube_standin)).status is ActionStatus.CHANGED
    assert cluster.image_of("backend") == "backend:1"
    annotations = cluster.deployments["backend"]["metadata"]["annotations"]
    assert len(annotations[ROLLED_BACK_FROM].split(",")) == 2
    assert annotations[REVISION] == str(cluster.revision_of("backend"))


def test_undo_to_the_revision_it_runs_is_skipped_as_kubectl_skips_it(kube_standin: StandIn) -> None:
    kube_standin.cluster.set_image("backend", "backend:2")
    result = RolloutUndoAction(deployment="backend", to_revision=2).apply(_context(kube_standin))
    assert result.status is ActionStatus.OK
    assert result.detail == "skipped rollback (current template already matches revision 2)"
    assert kube_standin.cluster.revision_of("backend") == 2


def test_undo_to_a_revision_not_in_the_history_fails_saying_so(kube_standin: StandIn) -> None:
    result = RolloutUndoAction(deployment="backend", to_revision=7).apply(_context(kube_standin))
    assert result.status is ActionStatus.FAILED
    assert result.detail == "unable to find specified revision 7 in history"


def test_undo_with_no_earlier_version_fails(kube_standin: StandIn) -> None:
    result = RolloutUndoAction(deployment="backend").apply(_context(kube_standin))
    assert result.status is ActionStatus.FAILED
    assert "no rollout history found" in result.detail


@dataclass(frozen=True)
class _Version:
    image_id: str
    image: str
    alembic_revision: str
    seen_at: datetime


def _guarded(standin: StandIn, recorded: Sequence[HealthyVersion], database_now: str) -> ActionContext:
    context = _context(standin)
    context.versions = lambda project, service: (
        recorded if (project, service) == ("production", "backend") else []
    )
    context.schema_revision = lambda: CheckResult.healthy("at head", current=[database_now])
    return context


def _first_template_id(standin: StandIn) -> str:
    return template_id(_template(standin))


@pytest.mark.parametrize(
    ("then", "now", "status"),
    [("a1", "b2", ActionStatus.REFUSED), ("b2", "b2", ActionStatus.CHANGED)],
)
def test_undo_is_refused_when_the_schema_moved_since_that_template_was_healthy(
    kube_standin: StandIn, then: str, now: str, status: ActionStatus
) -> None:
    healthy = _Version(_first_template_id(kube_standin), "backend:1", then, datetime.now(UTC))
    kube_standin.cluster.set_image("backend", "backend:2")
    result = RolloutUndoAction(deployment="backend").apply(_guarded(kube_standin, [healthy], now))
    assert result.status is status, result.detail
    if status is ActionStatus.REFUSED:
        assert "alembic revision a1 then, b2 now" in result.detail
        assert kube_standin.cluster.image_of("backend") == "backend:2"


def test_undo_is_refused_when_no_record_says_which_schema_the_template_ran_with(
    kube_standin: StandIn,
) -> None:
    kube_standin.cluster.set_image("backend", "backend:2")
    result = RolloutUndoAction(deployment="backend").apply(_guarded(kube_standin, [], "b2"))
    assert result.status is ActionStatus.REFUSED
    assert "revision 1 of backend (backend:1) was never recorded healthy" in result.detail
    allowed = RolloutUndoAction(deployment="backend", allow_schema_change=True)
    assert allowed.apply(_guarded(kube_standin, [], "b2")).status is ActionStatus.CHANGED


def test_scale_sets_the_replicas_once(kube_standin: StandIn) -> None:
    action = ScaleAction(deployment="backend", replicas=3)
    assert action.apply(_context(kube_standin)).status is ActionStatus.CHANGED
    assert kube_standin.cluster.deployments["backend"]["spec"]["replicas"] == 3
    assert kube_standin.cluster.requests[-1][1].endswith("/deployments/backend/scale")
    assert action.apply(_context(kube_standin)).status is ActionStatus.OK


def test_deleting_a_pod_by_name_is_done_once(kube_standin: StandIn) -> None:
    name = next(iter(kube_standin.cluster.pods))
    action = DeletePodAction(pod=name)
    assert action.apply(_context(kube_standin)).status is ActionStatus.CHANGED
    assert name not in kube_standin.cluster.pods
    again = action.apply(_context(kube_standin))
    assert (again.status, again.detail) == (ActionStatus.OK, f'pod "{name}" is already gone')


def test_deleting_a_deployments_pods_deletes_only_those_not_ready(kube_standin: StandIn) -> None:
    action = DeletePodAction(deployment="backend")
    assert action.apply(_context(kube_standin)).status is ActionStatus.OK
    kube_standin.cluster.crashing.add("backend:2")
    kube_standin.cluster.set_image("backend", "backend:2")
    stuck = set(kube_standin.cluster.pods)
    result = action.apply(_context(kube_standin))
    assert result.status is ActionStatus.CHANGED
    assert result.detail.startswith("deleted 2 pods that were not ready")
    assert stuck.isdisjoint(kube_standin.cluster.pods)


def test_deleting_pods_by_labels_deletes_those_not_ready(kube_standin: StandIn) -> None:
    kube_standin.cluster.crashing.add("backend:2")
    kube_standin.cluster.set_image("backend", "backend:2")
    result = DeletePodAction(selector={"app": "backend"}).apply(_context(kube_standin))
    assert result.status is ActionStatus.CHANGED
    assert result.detail.startswith("deleted 2 pods that were not ready")


def test_pods_must_be_named_one_way() -> None:
    with pytest.raises(ValueError, match="one of `pod`, `deployment` or `selector`"):
        DeletePodAction(pod="a", selector={"app": "b"})


def test_rollout_wait_returns_once_the_rollout_is_done(kube_standin: StandIn) -> None:
    kube_standin.cluster.set_image("backend", "backend:2")
    started = time.monotonic()
    result = RolloutWaitAction(deployment="backend", timeout=10, interval=0.1).apply(_context(kube_standin))
    assert result.status is ActionStatus.OK
    assert result.detail == 'deployment "backend" successfully rolled out'
    # Not before the stand-in showed the rollout done; and not by the timeout (10 s), which ends FAILED.
    assert time.monotonic() - started >= kube_standin.cluster.observe_delay


def test_rollout_wait_fails_when_the_progress_deadline_passed(kube_standin: StandIn) -> None:
    kube_standin.cluster.crashing.add("backend:2")
    kube_standin.cluster.set_image("backend", "backend:2")
    result = RolloutWaitAction(deployment="backend", timeout=20, interval=0.1).apply(_context(kube_standin))
    assert result.status is ActionStatus.FAILED
    assert result.detail == 'deployment "backend" exceeded its progress deadline'


def test_a_forbidden_action_fails_naming_the_rule_and_changes_nothing(kube_standin: StandIn) -> None:
    kube_standin.cluster.forbid.add(("patch", "deployments"))
    result = RolloutRestartAction(deployment="backend").apply(_context(kube_standin))
    assert result.status is ActionStatus.FAILED
    assert "forbidden: patch deployments backend in namespace production" in result.detail
    assert '{apiGroups: ["apps"], resources: ["deployments"], verbs: ["patch"]}' in result.detail
    assert kube_standin.cluster.revision_of("backend") == 1


@pytest.mark.parametrize(
    ("action", "line"),
    [
        (
            RolloutRestartAction(deployment="backend"),
            f"kubectl rollout restart deployment/backend (sets {RESTARTED_AT} on its pod template)",
        ),
        (
            RolloutUndoAction(deployment="backend", namespace="prod", to_revision=4),
            "kubectl rollout undo deployment/backend -n prod --to-revision=4 (its ReplicaSet's pod template "
            "written back; refused if the alembic revision moved since)",
        ),
        (ScaleAction(deployment="backend", replicas=0), "kubectl scale deployment/backend --replicas=0"),
        (DeletePodAction(pod="backend-abc"), "kubectl delete pod backend-abc"),
        (
            DeletePodAction(selector={"app": "postgres"}, namespace="db"),
            "kubectl delete pod -n db: the pods of -l app=postgres that are not ready",
        ),
        (
            RolloutWaitAction(deployment="backend", timeout=30),
            "kubectl rollout status deployment/backend --timeout=30s",
        ),
    ],
)
def test_each_action_says_in_one_line_what_it_would_do(action: Any, line: str) -> None:
    assert action.describe() == line
