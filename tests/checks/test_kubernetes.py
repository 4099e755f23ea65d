"""The kubernetes checks, with the real `kubernetes` client against the API server stand-in
(`tests/servers/kube_apiserver.py`): a Kubernetes API server cannot run here."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from checks.kubernetes import DeploymentCheck, PodCommandCheck, PodsCheck, ServiceCheck
from engine.core.results import Health
from tests.servers.kube_apiserver import StandIn, write_kubeconfig
from tests.support.clock import FakeClock
from tests.support.contexts import probe_context
from tests.support.services import free_port


def _wait_observed(standin: StandIn) -> None:
    time.sleep(standin.cluster.observe_delay + 0.1)


def test_a_rolled_out_deployment_is_healthy_and_records_its_version(kube_standin: StandIn) -> None:
    result = DeploymentCheck(deployment="backend").probe(probe_context(hostvars=kube_standin.hostvars))
    assert result.health is Health.HEALTHY, result.reason
    assert result.reason == 'deployment "backend" successfully rolled out'
    assert (result.evidence["replicas"], result.evidence["ready"], result.evidence["revision"]) == (2, 2, 1)
    version = result.evidence["version"]
    assert (version["project"], version["service"], version["image"]) == (
        "production",
        "backend",
        "backend:1",
    )
    assert version["image_id"].startswith("template:")


def test_a_change_the_controller_has_not_observed_is_not_yet_rolled_out(kube_standin: StandIn) -> None:
    kube_standin.cluster.observe_delay = 30
    kube_standin.cluster.set_image("backend", "backend:2")
    result = DeploymentCheck(deployment="backend").probe(probe_context(hostvars=kube_standin.hostvars))
    assert result.health is Health.UNHEALTHY
    assert result.reason == "Waiting for deployment spec update to be observed..."


def test_updated_replicas_that_never_become_available_are_unhealthy_then_past_the_deadline(
    kube_standin: StandIn,
) -> None:
    kube_standin.cluster.crashing.add("backend:2")
    kube_standin.cluster.set_image("backend", "backend:2")
    _wait_observed(kube_standin)
    check = DeploymentCheck(deployment="backend")
    first = check.probe(probe_context(hostvars=kube_standin.hostvars))
    assert first.health is Health.UNHEALTHY
    assert "0 of 2 updated replicas are available" in first.reason
    assert first.evidence["progressing"] == "ReplicaSetUpdated"
    time.sleep(kube_standin.cluster.deadline)
    late = check.probe(probe_context(hostvars=kube_standin.hostvars))
    assert late.reason == 'deployment "backend" exceeded its progress deadline'
    assert "version" not in late.evidence


def test_a_missing_deployment_is_unhealthy_not_an_error(kube_standin: StandIn) -> None:
    result = DeploymentCheck(deployment="frontend").probe(probe_context(hostvars=kube_standin.hostvars))
    assert result.health is Health.UNHEALTHY
    assert 'deployments.apps "frontend" not found' in result.reason


def test_an_unreachable_api_server_is_an_error_never_unhealthy(tmp_path: Path) -> None:
    config = write_kubeconfig(tmp_path / "config", f"http://127.0.0.1:{free_port()}", "production")
    hostvars = {"ansible_connection": "kubernetes", "ansible_kubectl_kubeconfig": str(config)}
    result = DeploymentCheck(deployment="backend").probe(probe_context(hostvars=hostvars))
    assert result.health is Health.ERROR
    assert "cannot reach the Kubernetes API server" in result.reason


def test_a_forbidden_read_is_an_error_naming_the_rule_that_would_allow_it(kube_standin: StandIn) -> None:
    kube_standin.cluster.forbid.add(("get", "deployments"))
    result = DeploymentCheck(deployment="backend").probe(probe_context(hostvars=kube_standin.hostvars))
    assert result.health is Health.ERROR
    assert 'verbs: ["get"]' in result.reason and 'resources: ["deployments"]' in result.reason


def test_the_namespace_option_wins_over_the_hosts(kube_standin: StandIn) -> None:
    result = DeploymentCheck(deployment="backend", namespace="staging").probe(
        probe_context(hostvars=kube_standin.hostvars)
    )
    assert result.health is Health.UNHEALTHY
    assert "not found" in result.reason


def test_pods_that_run_and_restart_rarely_are_healthy(kube_standin: StandIn) -> None:
    result = PodsCheck(deployment="backend").probe(probe_context(hostvars=kube_standin.hostvars))
    assert result.health is Health.HEALTHY, result.reason
    assert result.evidence["pods"] == 2


def test_crash_looping_pods_are_unhealthy_with_their_last_exit(kube_standin: StandIn) -> None:
    kube_standin.cluster.crashing.add("backend:2")
    kube_standin.cluster.set_image("backend", "backend:2")
    result = PodsCheck(deployment="backend").probe(probe_context(hostvars=kube_standin.hostvars))
    assert result.health is Health.UNHEALTHY
    assert "is crash-looping (6 restarts, last exit: Error)" in result.reason


def test_oom_killed_pods_are_unhealthy_and_say_so(kube_standin: StandIn) -> None:
    kube_standin.cluster.oom.add("backend:big")
    kube_standin.cluster.set_image("backend", "backend:big")
    result = PodsCheck(selector={"app": "backend"}).probe(probe_context(hostvars=kube_standin.hostvars))
    assert result.health is Health.UNHEALTHY
    assert result.evidence["oom_killed"] is True
    assert "OOMKilled" in result.reason


def test_restarts_faster_than_the_threshold_are_unhealthy(kube_standin: StandIn) -> None:
    # The stand-in's pods were created ten minutes ago; one restart in that time is 6 an hour.
    pod = next(iter(kube_standin.cluster.pods.values()))
    pod["status"]["containerStatuses"][0]["restartCount"] = 1
    now = FakeClock()
    now.sleep((datetime.now(UTC) - now.now()).total_seconds())
    fast = PodsCheck(deployment="backend", max_restarts_per_hour=3).probe(
        probe_context(hostvars=kube_standin.hostvars, clock=now)
    )
    assert fast.health is Health.UNHEALTHY
    assert "restarted 1 times in 0.2 h (more than 3 an hour)" in fast.reason
    later = FakeClock()
    later.sleep((datetime.now(UTC) + timedelta(hours=2) - later.now()).total_seconds())
    slow = PodsCheck(deployment="backend", max_restarts_per_hour=3).probe(
        probe_context(hostvars=kube_standin.hostvars, clock=later)
    )
    assert slow.health is Health.HEALTHY, slow.reason


def test_a_service_with_ready_endpoints_is_healthy_and_without_them_unhealthy(kube_standin: StandIn) -> None:
    check = ServiceCheck(service="backend", min_ready=2)
    assert check.probe(probe_context(hostvars=kube_standin.hostvars)).health is Health.HEALTHY
    kube_standin.cluster.crashing.add("backend:2")
    kube_standin.cluster.set_image("backend", "backend:2")
    result = check.probe(probe_context(hostvars=kube_standin.hostvars))
    assert result.health is Health.UNHEALTHY
    assert result.reason == "service backend has 0 ready endpoints (2 not ready), needs 2"


def test_a_command_in_a_ready_pod_that_exits_as_expected_is_healthy(kube_standin: StandIn) -> None:
    check = PodCommandCheck(
        deployment="backend", cmd="echo accepting connections; echo note >&2", stdout_regex="accepting"
    )
    result = check.probe(probe_context(hostvars=kube_standin.hostvars))
    assert result.health is Health.HEALTHY, result.reason
    assert result.evidence["output"] == "accepting connections\nnote"
    assert result.evidence["pod"] == min(kube_standin.cluster.pods)


def test_a_command_exiting_otherwise_is_unhealthy_with_its_exit_code(kube_standin: StandIn) -> None:
    result = PodCommandCheck(deployment="backend", cmd=["sh", "-c", "echo no response; exit 2"]).probe(
        probe_context(hostvars=kube_standin.hostvars)
    )
    assert result.health is Health.UNHEALTHY
    assert result.reason.endswith("exited 2, expected 0: no response")


def test_a_command_that_does_not_finish_in_time_is_an_error(kube_standin: StandIn) -> None:
    result = PodCommandCheck(selector={"app": "backend"}, cmd="sleep 3", timeout=0.5).probe(
        probe_context(hostvars=kube_standin.hostvars)
    )
    assert result.health is Health.ERROR
    assert result.reason.startswith("`sleep 3` did not finish within 0.5s")


def test_no_ready_pod_to_run_the_command_in_is_unhealthy(kube_standin: StandIn) -> None:
    kube_standin.cluster.crashing.add("backend:2")
    kube_standin.cluster.set_image("backend", "backend:2")
    by_deployment = PodCommandCheck(deployment="backend", cmd="true").probe(
        probe_context(hostvars=kube_standin.hostvars)
    )
    assert by_deployment.health is Health.UNHEALTHY
    assert by_deployment.reason == "no ready pod of deployment/backend to run `true` in"
    named = PodCommandCheck(pod=min(kube_standin.cluster.pods), cmd="true").probe(
        probe_context(hostvars=kube_standin.hostvars)
    )
    assert named.health is Health.UNHEALTHY
    assert 'container not found ("backend")' in named.reason


def test_a_forbidden_exec_is_an_error_naming_the_pods_exec_rule(kube_standin: StandIn) -> None:
    kube_standin.cluster.forbid.add(("create", "pods/exec"))
    result = PodCommandCheck(deployment="backend", cmd="true").probe(
        probe_context(hostvars=kube_standin.hostvars)
    )
    assert result.health is Health.ERROR
    assert '{apiGroups: [""], resources: ["pods/exec"], verbs: ["create"]}' in result.reason


def test_a_long_command_output_is_kept_as_a_bounded_head_and_tail(kube_standin: StandIn) -> None:
    from engine.clients.sizes import OUTPUT_HEAD, OUTPUT_TAIL

    check = PodCommandCheck(deployment="backend", cmd="head -c 2000000 /dev/zero | tr '\\0' x; echo; echo the end; exit 1")
    result = check.probe(probe_context(hostvars=kube_standin.hostvars))
    assert result.health is Health.UNHEALTHY
    assert result.reason.endswith("exited 1, expected 0: the end")
    assert len(result.evidence["output"]) <= OUTPUT_HEAD + OUTPUT_TAIL + 64
