"""The playbook fields of unattended operation: defaults, and errors with their positions."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.core.graph import NodeKey
from engine.errors import PlaybookError
from tests.support.playbooks import plan


def problems(tmp_path: Path, text: str) -> list[str]:
    with pytest.raises(PlaybookError) as error:
        plan(tmp_path, text)
    return [str(p).replace(str(tmp_path) + "/", "") for p in error.value.problems]


def test_a_node_has_a_remediation_limit_and_backoff_between_runs_by_default(tmp_path: Path) -> None:
    spec = plan(tmp_path, 'name: d\nchecks:\n  api: {command: {cmd: "true"}}\n').specs[
        NodeKey("localhost", "api")
    ]
    assert spec.limit is not None
    assert (spec.limit.max, spec.limit.within, spec.limit.reset_after) == (3, 3600, 600)
    assert (spec.run_backoff.initial, spec.run_backoff.max) == (30, 600)
    assert spec.flapping is None and spec.start_period == 0


def test_a_limit_can_be_turned_off(tmp_path: Path) -> None:
    spec = plan(tmp_path, 'name: d\nchecks:\n  api: {command: {cmd: "true"}, limit: null}\n').specs[
        NodeKey("localhost", "api")
    ]
    assert spec.limit is None


def test_playbook_level_run_limits_maintenance_and_notify_are_read(tmp_path: Path) -> None:
    settings = plan(
        tmp_path,
        """
        name: d
        run_limits: {max_unhealthy_share: 0.5, max_actions_per_run: 3}
        maintenance:
          - {cron: "0 2 * * sun", duration: 2h, nodes: [api], reason: weekly backup}
        notify:
          - webhook: {url: "http://127.0.0.1:9/hook"}
          - command: {cmd: "logger -t remediate"}
            on: [escalation, recovery, remediation]
        checks:
          api: {command: {cmd: "true"}}
        """,
    ).settings
    assert settings is not None
    assert settings.run_limits.max_actions_per_run == 3
    assert settings.maintenance[0].duration == 7200
    assert [t.on for t in settings.notify] == [
        ["escalation", "recovery", "approval"],  # the default: approval requests too
        ["escalation", "recovery", "remediation"],
    ]


def test_a_bad_limit_names_its_position(tmp_path: Path) -> None:
    assert problems(tmp_path, 'name: d\nchecks:\n  api: {command: {cmd: "true"}, limit: {max: 0}}\n') == [
        "playbook.yml:3:46: checks.api.limit.max: input should be greater than or equal to 1, got 0"
    ]


def test_a_bad_cron_expression_in_a_maintenance_window_is_an_error(tmp_path: Path) -> None:
    [message] = problems(
        tmp_path,
        'name: d\nmaintenance: [{cron: "nightly", duration: 1h}]\nchecks:\n  api: {command: {cmd: "true"}}\n',
    )
    assert message.startswith("playbook.yml:2:")
    assert "not a valid cron expression: 'nightly'" in message


def test_an_unknown_notify_event_is_an_error(tmp_path: Path) -> None:
    [message] = problems(
        tmp_path,
        'name: d\nnotify: [{command: {cmd: "true"}, on: [paging]}]\nchecks:\n  api: {command: {cmd: "true"}}\n',
    )
    assert "notify[0].on[0]" in message and "paging" in message


def test_alerts_map_label_matchers_to_nodes_with_a_window(tmp_path: Path) -> None:
    settings = plan(
        tmp_path,
        """
        name: d
        alerts:
          - {match: {alertname: ServiceDown, service: api}, nodes: [api], window: 10m}
        checks:
          api: {command: {cmd: "true"}}
        """,
    ).settings
    assert settings is not None
    [route] = settings.alerts
    assert (route.match, route.nodes, route.window) == (
        {"alertname": "ServiceDown", "service": "api"},
        ["api"],
        600,
    )


def test_an_alert_naming_no_node_or_without_matchers_is_an_error_at_its_line(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        """
        name: d
        alerts:
          - {match: {alertname: ServiceDown}, nodes: [apii]}
          - {match: {}, nodes: [api]}
        checks:
          api: {command: {cmd: "true"}}
        """,
    )
    assert any(
        p.startswith("playbook.yml:3:") and "alerts[0].nodes[0]" in p and "'apii' is not a node" in p
        for p in found
    ), found


def test_a_plan_narrowed_to_a_node_keeps_its_upstreams_only(tmp_path: Path) -> None:
    full = plan(
        tmp_path,
        """
        name: d
        checks:
          db: {command: {cmd: "true"}}
          cache: {command: {cmd: "true"}}
          api: {depends_on: [db], command: {cmd: "true"}}
          web: {depends_on: [api, cache], command: {cmd: "true"}}
        """,
    )
    narrowed = full.narrowed({NodeKey("localhost", "api")})
    assert narrowed.order() == [NodeKey("localhost", "db"), NodeKey("localhost", "api")]
    assert set(narrowed.specs) == set(narrowed.order())


def test_a_node_has_its_own_alert_matchers_rendered_with_its_variables(tmp_path: Path) -> None:
    spec = plan(
        tmp_path,
        """
        name: d
        vars: {exporter: "9100"}
        checks:
          api:
            command: {cmd: "true"}
            alerts:
              - match: {alertname: ServiceDown}
                match_re: {instance: "localhost:{{ exporter }}|api-[0-9]+"}
                host_label: instance
        """,
    ).specs[NodeKey("localhost", "api")]
    [matcher] = spec.alerts
    assert matcher.match_re == {"instance": "localhost:9100|api-[0-9]+"}
    assert matcher.matches({"alertname": "ServiceDown", "instance": "api-12"})
    assert matcher.on_host({"instance": "localhost:9100"}, "localhost")


def test_a_bad_alert_regex_or_a_matcher_without_labels_is_an_error_at_its_line(tmp_path: Path) -> None:
    bad_regex = problems(
        tmp_path,
        """
        name: d
        checks:
          api:
            command: {cmd: "true"}
            alerts:
              - match_re: {service: "api(?=x)"}
        """,
    )
    no_labels = problems(
        tmp_path, 'name: d\nalerts:\n  - {nodes: [api]}\nchecks:\n  api: {command: {cmd: "true"}}\n'
    )
    assert any(
        p.startswith("playbook.yml:6:") and "checks.api.alerts[0].match_re.service" in p and "RE2" in p
        for p in bad_regex
    ), bad_regex
    assert any(p.startswith("playbook.yml:3:") and "give match: or match_re:" in p for p in no_labels), (
        no_labels
    )
