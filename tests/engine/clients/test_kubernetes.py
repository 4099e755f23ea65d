"""The kubernetes client: kubectl's rollout-status rules, template identity, and how the real
`kubernetes` client's failures (unreachable, forbidden, missing kubeconfig or context, TLS) read,
and which addresses name something in the cluster."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.clients.kubernetes import (
    RESTARTED_AT,
    ClusterAddress,
    Kube,
    api_client,
    check_settings,
    cluster_address,
    rollout_status,
    same_template,
    template_id,
    without_hash,
)
from engine.errors import KubeconfigError, KubernetesError
from tests.servers.kube_apiserver import Pki, StandIn, write_kubeconfig
from tests.servers.net import free_port


def _deployment(
    generation: int,
    observed: int,
    wanted: int | None,
    replicas: int,
    updated: int,
    available: int,
    reason: str,
) -> dict[str, Any]:
    spec: dict[str, Any] = {} if wanted is None else {"replicas": wanted}
    return {
        "metadata": {"name": "backend", "generation": generation},
        "spec": spec,
        "status": {
            "observedGeneration": observed,
            "replicas": replicas,
            "updatedReplicas": updated,
            "availableReplicas": available,
            "conditions": [{"type": "Progressing", "status": "True", "reason": reason}],
        },
    }


counts = st.integers(min_value=0, max_value=5)


@given(
    generation=st.integers(1, 4),
    observed=st.integers(0, 4),
    wanted=st.none() | counts,
    replicas=counts,
    updated=counts,
    available=counts,
    reason=st.sampled_from(["NewReplicaSetAvailable", "ReplicaSetUpdated", "ProgressDeadlineExceeded"]),
)
def test_a_rollout_is_done_exactly_when_kubectl_says_successfully_rolled_out(
    generation: int,
    observed: int,
    wanted: int | None,
    replicas: int,
    updated: int,
    available: int,
    reason: str,
) -> None:
    status = rollout_status(_deployment(generation, observed, wanted, replicas, updated, available, reason))
    expected_done = (
        observed >= generation
        and reason != "ProgressDeadlineExceeded"
        and (wanted is None or updated >= wanted)
        and replicas <= updated
        and available >= updated
    )
    assert status.done is expected_done
    assert status.failed is (observed >= generation and reason == "ProgressDeadlineExceeded")
    assert not (status.done and status.failed)
    if status.done:
        assert status.message == 'deployment "backend" successfully rolled out'


def test_a_generation_not_yet_observed_is_waited_for_whatever_the_counts_say() -> None:
    status = rollout_status(_deployment(3, 2, 2, 2, 2, 2, "ProgressDeadlineExceeded"))
    assert (status.done, status.failed) == (False, False)
    assert status.message == "Waiting for deployment spec update to be observed..."


templates = st.fixed_dictionaries(
    {
        "metadata": st.fixed_dictionaries(
            {"labels": st.dictionaries(st.sampled_from(["app", "tier"]), st.text(max_size=5))}
        ),
        "spec": st.fixed_dictionaries(
            {
                "containers": st.lists(
                    st.fixed_dictionaries({"name": st.text(max_size=5), "image": st.text(max_size=8)}),
                    max_size=2,
                )
            }
        ),
    }
)


@given(template=templates, pod_hash=st.text(min_size=1, max_size=10), stamp=st.text(max_size=20))
def test_a_template_is_the_same_version_whatever_its_hash_label_and_restart_stamp(
    template: dict[str, Any], pod_hash: str, stamp: str
) -> None:
    marked = json.loads(json.dumps(template))
    marked["metadata"]["labels"]["pod-template-hash"] = pod_hash
    marked["metadata"]["annotations"] = {RESTARTED_AT: stamp}
    assert template_id(marked) == template_id(template)
    assert (
        same_template(without_hash(marked), {**marked})
        and "pod-template-hash" not in without_hash(marked)["metadata"]["labels"]
    )


def test_templates_running_other_images_are_other_versions() -> None:
    one = {
        "metadata": {"labels": {"app": "backend"}},
        "spec": {"containers": [{"name": "b", "image": "backend:1"}]},
    }
    two = json.loads(json.dumps(one))
    two["spec"]["containers"][0]["image"] = "backend:2"
    assert template_id(one) != template_id(two)


def test_a_missing_kubeconfig_is_invalid_input_naming_the_file(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "config"
    with pytest.raises(
        KubeconfigError,
        match=f"host prod: kubeconfig {missing} \\(ansible_kubectl_kubeconfig\\) cannot be read",
    ):
        check_settings(
            "prod", {"ansible_connection": "kubernetes", "ansible_kubectl_kubeconfig": str(missing)}
        )


def test_a_context_the_kubeconfig_lacks_is_invalid_input_naming_it_and_the_ones_it_has(
    tmp_path: Path,
) -> None:
    config = write_kubeconfig(tmp_path / "config", "http://127.0.0.1:1", "production", context="kind-prod")
    hostvars = {"ansible_kubectl_kubeconfig": str(config), "ansible_kubectl_context": "kind-staging"}
    with pytest.raises(
        KubeconfigError, match=r"context 'kind-staging' is not in kubeconfig .* \(contexts: kind-prod\)"
    ):
        check_settings("prod", hostvars)


def test_a_host_naming_no_cluster_is_not_checked_for_a_kubeconfig() -> None:
    check_settings("web1", {"ansible_connection": "ssh"})


def test_an_api_server_that_does_not_answer_is_a_client_error_saying_what_was_asked(tmp_path: Path) -> None:
    config = write_kubeconfig(tmp_path / "config", f"http://127.0.0.1:{free_port()}", "production")
    with (
        api_client("prod", {"ansible_kubectl_kubeconfig": str(config)}) as client,
        pytest.raises(
            KubernetesError, match="cannot reach the Kubernetes API server to get deployments backend"
        ),
    ):
        Kube(client, "production", 2).deployment("backend")


def test_forbidden_names_the_verb_the_resource_and_the_role_rule_that_would_allow_it(
    kube_standin: StandIn,
) -> None:
    kube_standin.cluster.forbid.add(("patch", "deployments"))
    with api_client("prod", kube_standin.hostvars) as client:
        api = Kube(client, "production", 5)
        api.deployment("backend")  # reading is allowed
        with pytest.raises(KubernetesError) as refused:
            api.patch_deployment("backend", {"spec": {"replicas": 3}})
    message = str(refused.value)
    assert message.startswith("forbidden: patch deployments backend in namespace production")
    assert 'cannot patch resource "deployments" in API group "apps"' in message
    assert '{apiGroups: ["apps"], resources: ["deployments"], verbs: ["patch"]}' in message


def test_a_kubeconfig_with_the_clusters_ca_and_a_client_certificate_talks_tls(
    kube_standin_tls: StandIn,
) -> None:
    assert kube_standin_tls.url.startswith("https://")
    with api_client("prod", kube_standin_tls.hostvars) as client:
        deployment = Kube(client, "production", 5).deployment("backend")
    assert deployment["metadata"]["name"] == "backend"


def test_a_server_certificate_another_ca_signed_fails_tls_verification_and_nothing_is_asked(
    kube_standin_tls: StandIn, tmp_path: Path
) -> None:
    assert kube_standin_tls.pki is not None
    stranger = dataclasses.replace(kube_standin_tls.pki, ca=Pki.generate().ca)
    config = write_kubeconfig(tmp_path / "other", kube_standin_tls.url, "production", pki=stranger)
    with (
        api_client("prod", {"ansible_kubectl_kubeconfig": str(config)}) as client,
        pytest.raises(
            KubernetesError, match=r"^TLS verification with the Kubernetes API server failed"
        ) as refused,
    ):
        Kube(client, "production", 5).deployment("backend")
    assert "CERTIFICATE_VERIFY_FAILED" in str(refused.value)
    assert kube_standin_tls.cluster.requests == []


_LABEL = st.from_regex(r"[a-z]([-a-z0-9]{0,20}[a-z0-9])?", fullmatch=True)


@given(_LABEL.filter(lambda name: name != "localhost"))
def test_a_single_dns_label_names_a_service_of_the_hosts_namespace(name: str) -> None:
    assert cluster_address(name) == ClusterAddress("service", name, None)
    assert cluster_address(f"svc/{name}") == ClusterAddress("service", name, None)
    assert cluster_address(f"pod/{name}") == ClusterAddress("pod", name, None)


@given(_LABEL, _LABEL, st.sampled_from([".svc", ".svc.cluster.local", ".svc.cluster.local."]))
def test_a_service_dns_name_names_the_service_in_its_namespace(
    name: str, namespace: str, suffix: str
) -> None:
    assert cluster_address(f"{name}.{namespace}{suffix}".upper()) == ClusterAddress(
        "service", name, namespace
    )


@given(
    st.ip_addresses().map(str)
    | st.just("localhost")
    | st.from_regex(r"[a-z]{1,9}\.(com|org|internal)", fullmatch=True)
)
def test_ips_localhost_and_other_dns_names_are_reached_from_the_controller(address: str) -> None:
    assert cluster_address(address) is None
