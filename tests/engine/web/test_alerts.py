"""Alertmanager's alerts mapped to nodes: matching labels, resolved alerts, the window."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from engine.core.graph import NodeKey
from engine.playbook.unattended import AlertMatcher, AlertRoute
from engine.web.alerts import AlertRouter, Webhook

KEYS = [NodeKey(h, n) for h in ("a", "b") for n in ("db", "api", "web")]
ROUTES = [
    AlertRoute(match={"alertname": "ServiceDown"}, nodes=["api"], window=60),
    AlertRoute(match={"alertname": "HighLatency", "severity": "page"}, nodes=["api", "web"]),
]


class Ticks:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def hook(*alerts: dict[str, object]) -> Webhook:
    return Webhook.model_validate({"version": "4", "status": "firing", "alerts": list(alerts)})


def firing(name: str, fingerprint: str = "f", status: str = "firing", **labels: str) -> dict[str, object]:
    return {"status": status, "labels": {"alertname": name, **labels}, "fingerprint": fingerprint}


def test_a_firing_alert_maps_to_its_nodes_on_every_host() -> None:
    triage = AlertRouter().triage(hook(firing("ServiceDown")), ROUTES, KEYS)
    assert triage.keys == {NodeKey("a", "api"), NodeKey("b", "api")}
    assert triage.started == ["ServiceDown"]


def test_every_label_of_a_route_must_match() -> None:
    router = AlertRouter()
    assert router.triage(hook(firing("HighLatency", severity="ticket")), ROUTES, KEYS).keys == set()
    assert {
        k.node for k in router.triage(hook(firing("HighLatency", "g", severity="page")), ROUTES, KEYS).keys
    } == {
        "api",
        "web",
    }


def test_a_resolved_alert_maps_to_nothing() -> None:
    triage = AlertRouter().triage(hook(firing("ServiceDown", status="resolved")), ROUTES, KEYS)
    assert triage.keys == set() and triage.ignored == ["ServiceDown: resolved"]


def test_the_same_alert_counts_once_within_its_window_and_again_after_it() -> None:
    ticks = Ticks()
    router = AlertRouter(monotonic=ticks)
    assert router.triage(hook(firing("ServiceDown")), ROUTES, KEYS).keys
    ticks.now += 59
    assert router.triage(hook(firing("ServiceDown")), ROUTES, KEYS).keys == set()
    assert router.triage(hook(firing("ServiceDown", "other")), ROUTES, KEYS).keys  # another alert
    ticks.now += 2
    assert router.triage(hook(firing("ServiceDown")), ROUTES, KEYS).keys


labels = st.dictionaries(
    st.sampled_from(["alertname", "service", "severity", "job"]), st.text(max_size=5), max_size=4
)


@given(match=labels.filter(bool), alert_labels=labels)
def test_a_route_matches_exactly_the_alerts_carrying_all_its_labels(
    match: dict[str, str], alert_labels: dict[str, str]
) -> None:
    route = AlertRoute(match=match, nodes=["api"])
    expected = all(alert_labels.get(k) == v for k, v in match.items())
    assert route.matches(alert_labels) is expected
    assert route.matches({**alert_labels, **match})


def test_a_route_with_a_host_label_runs_its_nodes_on_the_host_the_alert_names() -> None:
    routes = [AlertRoute(match={"alertname": "ServiceDown"}, nodes=["api"], host_label="instance")]
    router = AlertRouter()
    assert router.triage(hook(firing("ServiceDown", "1", instance="b:9100")), routes, KEYS).keys == {
        NodeKey("b", "api")
    }
    assert router.triage(hook(firing("ServiceDown", "2", instance="a")), routes, KEYS).keys == {
        NodeKey("a", "api")
    }
    nowhere = router.triage(hook(firing("ServiceDown", "3", instance="c:9100")), routes, KEYS)
    assert nowhere.keys == set() and "runs none of its nodes" in nowhere.ignored[0]


def test_a_nodes_own_matcher_runs_that_node_on_its_host_only() -> None:
    own = {NodeKey("a", "db"): [AlertMatcher(match_re={"alertname": "Postgres.*"})]}
    triage = AlertRouter().triage(hook(firing("PostgresDown")), ROUTES, KEYS, own)
    assert triage.keys == {NodeKey("a", "db")}
    assert AlertRouter().triage(hook(firing("RedisDown")), ROUTES, KEYS, own).keys == set()


names = st.text(alphabet="ab-_.1", max_size=6)


@given(prefix=names, value=names)
def test_a_regex_matcher_matches_the_whole_label_value(prefix: str, value: str) -> None:
    starts = AlertMatcher(match_re={"service": re.escape(prefix) + ".*"})
    exactly = AlertMatcher(match_re={"service": re.escape(prefix)})
    assert starts.matches({"service": value}) is value.startswith(prefix)
    assert exactly.matches({"service": value}) is (value == prefix)  # anchored, as Alertmanager's =~
