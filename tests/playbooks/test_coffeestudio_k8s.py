"""The bundled production playbook on Kubernetes (playbooks/coffeestudio-k8s.yml): the
runbook's ladder (restart, rollout status, rollout undo, rollout status), run by the real
`remediate` command with the real client against the API server stand-in."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from engine.core.graph import NodeKey
from engine.core.planning import plan_run
from inventory import load_inventory
from playbooks import BUNDLED
from tests.servers.kube_apiserver import Cluster, StandIn, kube_apiserver, write_kubeconfig
from tests.support.cli import remediate

PLAYBOOK = BUNDLED / "coffeestudio-k8s.yml"
COMPOSE_NODES = {"postgres", "redis", "backend", "frontend", "worker", "beat"}
FAST = ("-e", "wait_timeout=10s", "-e", "verify_within=1s")


def _inventory(directory: Path, kubeconfig: Path | str, context: str | None = None) -> Path:
    lines = [
        "all:",
        "  hosts:",
        "    production:",
        "      ansible_connection: kubernetes",
        f"      ansible_kubectl_kubeconfig: {json.dumps(str(kubeconfig))}",
    ]
    if context is not None:
        lines.append(f"      ansible_kubectl_context: {context}")
    path = directory / "inventory.yml"
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def coffeestudio(tmp_path: Path) -> Iterator[StandIn]:
    """Every CoffeeStudio service rolled out in namespace `production`; the backend's revision 2
    (`backend:2`) crash-loops, revision 1 (`backend:1`) was fine."""
    cluster = Cluster()
    for service in sorted(COMPOSE_NODES):
        cluster.add_deployment(service, f"{service}:1")
        cluster.add_service(service, service)
    cluster.crashing.add("backend:2")
    cluster.set_image("backend", "backend:2")
    with kube_apiserver(cluster) as url:
        yield StandIn(cluster, url, write_kubeconfig(tmp_path / "kubeconfig", url, cluster.namespace))


def test_its_node_names_are_the_compose_playbooks(tmp_path: Path) -> None:
    config = write_kubeconfig(tmp_path / "kubeconfig", "http://127.0.0.1:1", "production")
    plan = plan_run(PLAYBOOK, load_inventory([str(_inventory(tmp_path, config))]))
    names = {key.node for key in plan.specs}
    assert names >= COMPOSE_NODES
    backend = plan.specs[NodeKey("production", "backend")]
    assert [step.action.type_key for step in backend.remediate] == [
        "k8s_rollout_restart", "k8s_rollout_wait", "k8s_rollout_undo", "k8s_rollout_wait",
    ]  # fmt: skip
    assert backend.severity == "P0"


def test_a_missing_kubeconfig_is_exit_2_naming_it_before_anything_runs(tmp_path: Path) -> None:
    missing = tmp_path / "absent" / "config"
    result = remediate(
        "validate", PLAYBOOK, "-i", _inventory(tmp_path, missing), state=tmp_path / "s", cwd=tmp_path
    )
    assert result.returncode == 2, result.stderr
    assert (
        f"host production: kubeconfig {missing} (ansible_kubectl_kubeconfig) cannot be read" in result.stderr
    )
    assert "Traceback" not in result.stderr


def test_a_missing_context_is_exit_2_naming_it(tmp_path: Path) -> None:
    config = write_kubeconfig(
        tmp_path / "kubeconfig", "http://127.0.0.1:1", "production", context="kind-prod"
    )
    inventory = _inventory(tmp_path, config, context="kind-staging")
    result = remediate("run", PLAYBOOK, "-i", inventory, state=tmp_path / "s", cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert "context 'kind-staging' is not in kubeconfig" in result.stderr
    assert "(contexts: kind-prod)" in result.stderr


def _report(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text())
    return {node["node"]: node for node in data["nodes"]}


def test_the_dry_run_plans_the_runbooks_ladder_and_changes_nothing(
    coffeestudio: StandIn, tmp_path: Path
) -> None:
    inventory = _inventory(tmp_path, coffeestudio.kubeconfig)
    requests = len(coffeestudio.cluster.requests)
    result = remediate(
        "run", PLAYBOOK, "-i", inventory, "--dry-run", *FAST, "--report", tmp_path / "plan.json",
        state=tmp_path / "s", cwd=tmp_path, timeout=120,
    )  # fmt: skip
    assert result.returncode == 1, result.stderr
    backend = _report(tmp_path / "plan.json")["backend"]
    assert backend["outcome"] == "would_remediate"
    assert any("kubectl rollout undo deployment/backend" in line for line in backend["plan"])
    assert all(method == "GET" for method, _, _ in coffeestudio.cluster.requests[requests:])
    assert coffeestudio.cluster.revision_of("backend") == 2


def test_a_crash_looping_backend_is_restarted_then_rolled_back_and_verified(
    coffeestudio: StandIn, tmp_path: Path
) -> None:
    inventory = _inventory(tmp_path, coffeestudio.kubeconfig)
    result = remediate(
        "run", PLAYBOOK, "-i", inventory, *FAST, "--report", tmp_path / "run.json",
        state=tmp_path / "s", cwd=tmp_path, timeout=180,
    )  # fmt: skip
    nodes = _report(tmp_path / "run.json")
    backend = nodes["backend"]
    assert result.returncode == 0, (result.stdout, result.stderr, backend)
    assert backend["outcome"] == "remediated"
    steps = [(step["action"], step["status"]) for step in backend["steps"]]
    assert steps == [
        ("k8s_rollout_restart", "changed"),
        ("k8s_rollout_wait", "failed"),
        ("k8s_rollout_undo", "changed"),
        ("k8s_rollout_wait", "ok"),
    ]
    assert 'deployment "backend" exceeded its progress deadline' in backend["steps"][1]["detail"]
    assert coffeestudio.cluster.image_of("backend") == "backend:1"
    assert nodes["frontend"]["outcome"] == "healthy"
    # The verified template is recorded as a version a later undo's schema guard matches.
    versions = remediate("versions", "--service", "backend", "--json", state=tmp_path / "s", cwd=tmp_path)
    recorded = [json.loads(line) for line in versions.stdout.splitlines()]
    assert [(v["project"], v["image"]) for v in recorded] == [("production", "backend:1")]
    assert recorded[0]["image_id"].startswith("template:")


def test_an_unreachable_api_server_is_an_error_and_nothing_is_acted_on(tmp_path: Path) -> None:
    cluster = Cluster()
    with kube_apiserver(cluster) as url:
        config = write_kubeconfig(tmp_path / "kubeconfig", url, "production")
    # A long probe bound: the reason must be the refused connection, not a busy machine's
    # slow import of the Kubernetes client.
    result = remediate(
        "run", PLAYBOOK, "-i", _inventory(tmp_path, config), *FAST, "-e", "check_timeout=60s",
        "--report", tmp_path / "run.json", state=tmp_path / "s", cwd=tmp_path, timeout=180,
    )  # fmt: skip
    nodes = _report(tmp_path / "run.json")
    assert nodes["postgres"]["outcome"] == "error"
    assert "cannot reach the Kubernetes API server" in nodes["postgres"]["reason"]
    assert all(not node["steps"] for node in nodes.values())
    assert result.returncode != 0
