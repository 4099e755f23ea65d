"""`remediate init --from-compose`: a starting playbook from compose files.

The CoffeeStudio compose file (`tests/compose/coffeestudio.yml`, the layout design.md
describes) and smaller files of other shapes, written here, are translated; every
generated playbook must pass `remediate validate`.
"""

from __future__ import annotations

import json
import tempfile
import textwrap
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML

from engine.cli.app import cli
from engine.compose.importer import interpolate, merge_files
from tests.support.fixtures import FIXTURES
from tests.support.templates import TEMPLATE_PIECES

COFFEESTUDIO = FIXTURES / "compose" / "coffeestudio.yml"


def init(tmp_path: Path, *files: Path, args: tuple[str, ...] = ()) -> tuple[dict[str, Any], Path, str]:
    """Run `remediate init`, validate the result; (playbook data, its path, stderr)."""
    output = tmp_path / "site.yml"
    options = [part for file in files for part in ("-f", str(file))]
    result = CliRunner().invoke(cli, ["init", *options, *args, "-o", str(output)])
    assert result.exit_code == 0, result.output
    validated = CliRunner().invoke(cli, ["validate", str(output)])
    assert validated.exit_code == 0, validated.output
    return YAML(typ="safe").load(output.read_text()), output, result.stderr


def compose(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


# --- the CoffeeStudio stack -------------------------------------------------------------------


def test_coffeestudio_gets_one_node_per_service(tmp_path: Path) -> None:
    playbook, _, _ = init(tmp_path, COFFEESTUDIO)
    assert list(playbook["checks"]) == ["postgres", "redis", "backend", "worker", "beat", "frontend"]


def test_coffeestudio_project_comes_from_the_compose_name(tmp_path: Path) -> None:
    playbook, _, _ = init(tmp_path, COFFEESTUDIO)
    assert playbook["vars"]["project"] == "coffeestudio"


def test_coffeestudio_depends_on_map_and_list_forms_become_edges(tmp_path: Path) -> None:
    checks = init(tmp_path, COFFEESTUDIO)[0]["checks"]
    assert checks["backend"]["depends_on"] == ["postgres", "redis"]  # map form, service_healthy
    assert checks["worker"]["depends_on"] == ["backend", "redis", "postgres"]  # list form
    assert "depends_on" not in checks["postgres"]


def test_cmd_shell_healthcheck_runs_as_a_shell_line_in_the_container(tmp_path: Path) -> None:
    postgres = init(tmp_path, COFFEESTUDIO)[0]["checks"]["postgres"]
    assert postgres["docker_command"] == {
        "project": "{{ project }}",
        "service": "postgres",
        "cmd": "pg_isready -U coffeestudio -d coffeestudio",
        "timeout": "5s",
    }


def test_cmd_healthcheck_runs_as_an_argument_list_in_the_container(tmp_path: Path) -> None:
    redis = init(tmp_path, COFFEESTUDIO)[0]["checks"]["redis"]
    assert redis["docker_command"]["cmd"] == ["redis-cli", "ping"]


def test_published_port_without_healthcheck_becomes_a_tcp_check(tmp_path: Path) -> None:
    backend = init(tmp_path, COFFEESTUDIO)[0]["checks"]["backend"]
    assert backend["tcp"] == {"host": "{{ host }}", "port": 8000, "timeout": "5s"}


def test_service_without_healthcheck_or_port_is_checked_running(tmp_path: Path) -> None:
    worker = init(tmp_path, COFFEESTUDIO)[0]["checks"]["worker"]
    assert worker["docker_container"] == {"project": "{{ project }}", "service": "worker"}


def test_every_service_is_restarted_then_waited_for(tmp_path: Path) -> None:
    for name, node in init(tmp_path, COFFEESTUDIO)[0]["checks"].items():
        assert [list(step)[1] for step in node["remediate"]] == ["docker_restart", "wait"], name
        assert node["remediate"][0]["docker_restart"] == {"project": "{{ project }}", "service": name}


def test_unset_required_variable_is_reported_not_fatal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("JWT_SECRET", raising=False)
    _, path, stderr = init(tmp_path, COFFEESTUDIO)
    assert "not translated: required variable JWT_SECRET is not set" in stderr
    assert "#   - required variable JWT_SECRET is not set" in path.read_text()


def test_output_file_is_not_overwritten(tmp_path: Path) -> None:
    output = tmp_path / "site.yml"
    output.write_text("mine\n")
    result = CliRunner().invoke(cli, ["init", "-f", str(COFFEESTUDIO), "-o", str(output)])
    assert result.exit_code == 1
    assert output.read_text() == "mine\n"


def test_without_output_the_playbook_goes_to_stdout(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["init", "--from-compose", str(COFFEESTUDIO)])
    assert result.exit_code == 0
    assert YAML(typ="safe").load(result.stdout)["name"] == "coffeestudio"


def test_missing_compose_file_is_invalid_input(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["init", "-f", str(tmp_path / "nope.yml")])
    assert result.exit_code == 2
    assert "cannot read" in result.stderr


# --- other shapes -----------------------------------------------------------------------------


def test_project_defaults_to_the_directory_name(tmp_path: Path) -> None:
    directory = tmp_path / "My Shop"
    directory.mkdir()
    file = compose(directory, "compose.yml", "services: {web: {image: nginx}}\n")
    assert init(tmp_path, file)[0]["vars"]["project"] == "myshop"


def test_project_option_overrides_the_name(tmp_path: Path) -> None:
    file = compose(tmp_path, "compose.yml", "name: a\nservices: {web: {image: nginx}}\n")
    assert init(tmp_path, file, args=("--project", "b"))[0]["vars"]["project"] == "b"


PROFILES = """
services:
  app:
    image: app
    depends_on: [db, debugger]
  db:
    image: postgres
  debugger:
    image: delve
    profiles: [debug]
  grafana:
    image: grafana
    profiles: [monitoring]
"""


def test_services_of_inactive_profiles_are_left_out_and_reported(tmp_path: Path) -> None:
    playbook, _, stderr = init(tmp_path, compose(tmp_path, "c.yml", PROFILES))
    assert set(playbook["checks"]) == {"app", "db"}
    assert "grafana: left out, its profiles ['monitoring'] are not active" in stderr
    assert "app: depends on debugger, which is not included; edge dropped" in stderr


def test_active_profile_includes_its_services(tmp_path: Path) -> None:
    playbook, _, _ = init(tmp_path, compose(tmp_path, "c.yml", PROFILES), args=("--profile", "debug"))
    assert set(playbook["checks"]) == {"app", "db", "debugger"}
    assert playbook["checks"]["app"]["depends_on"] == ["db", "debugger"]


def test_override_file_replaces_the_healthcheck_test(tmp_path: Path) -> None:
    base = compose(
        tmp_path,
        "compose.yml",
        """
        services:
          api:
            image: api
            healthcheck: {test: ["CMD", "curl", "-f", "http://localhost/health"], timeout: 3s}
    """,
    )
    override = compose(
        tmp_path,
        "compose.prod.yml",
        """
        services:
          api:
            healthcheck: {test: "wget -q -O- localhost/health"}
    """,
    )
    api = init(tmp_path, base, override)[0]["checks"]["api"]
    assert api["docker_command"]["cmd"] == "wget -q -O- localhost/health"
    assert api["docker_command"]["timeout"] == "3s"  # the rest of the healthcheck merges


def test_override_file_adds_ports_and_dependencies(tmp_path: Path) -> None:
    base = compose(
        tmp_path,
        "compose.yml",
        """
        services:
          db: {image: postgres}
          cache: {image: redis}
          api: {image: api, depends_on: [db]}
    """,
    )
    override = compose(
        tmp_path,
        "compose.override.yml",
        """
        services:
          api:
            depends_on: {cache: {condition: service_healthy}}
            ports: ["127.0.0.1:8080:80"]
    """,
    )
    api = init(tmp_path, base, override)[0]["checks"]["api"]
    assert api["depends_on"] == ["db", "cache"]
    assert api["tcp"]["host"] == "127.0.0.1"
    assert api["tcp"]["port"] == 8080


def test_merge_rules_in_compose_order() -> None:
    base = {
        "services": {
            "s": {
                "command": ["a", "b"],
                "environment": ["A=1", "B=2"],
                "ports": ["80:80"],
                "labels": {"x": "1"},
            }
        }
    }
    override = {
        "services": {
            "s": {
                "command": ["c"],
                "environment": {"B": "3"},
                "ports": ["443:443", "80:80"],
                "labels": ["y=2"],
            }
        }
    }
    merged = merge_files(base, override)["services"]["s"]
    assert merged == {
        "command": ["c"],
        "environment": {"A": "1", "B": "3"},
        "ports": ["80:80", "443:443"],
        "labels": {"x": "1", "y": "2"},
    }


def test_one_shot_jobs_get_no_node_and_are_reported(tmp_path: Path) -> None:
    file = compose(
        tmp_path,
        "c.yml",
        """
        services:
          migrate: {image: api, command: alembic upgrade head}
          api:
            image: api
            depends_on: {migrate: {condition: service_completed_successfully}}
    """,
    )
    playbook, _, stderr = init(tmp_path, file)
    assert set(playbook["checks"]) == {"api"}
    assert "depends_on" not in playbook["checks"]["api"]
    assert "migrate: a one-shot job" in stderr


def test_long_port_syntax_with_host_ip(tmp_path: Path) -> None:
    file = compose(
        tmp_path,
        "c.yml",
        """
        services:
          web:
            image: nginx
            ports: [{target: 80, published: "8081", host_ip: 127.0.0.2, protocol: tcp}]
    """,
    )
    assert init(tmp_path, file)[0]["checks"]["web"]["tcp"] == {
        "host": "127.0.0.2",
        "port": 8081,
        "timeout": "5s",
    }


def test_ports_without_a_fixed_tcp_host_port_are_reported(tmp_path: Path) -> None:
    file = compose(
        tmp_path,
        "c.yml",
        """
        services:
          dns: {image: coredns, ports: ["53:53/udp", "9153", "8000-8001:8000-8001"]}
    """,
    )
    playbook, _, stderr = init(tmp_path, file)
    assert "docker_container" in playbook["checks"]["dns"]
    for port in ("53:53/udp", "9153", "8000-8001:8000-8001"):
        assert f"dns: port '{port}' publishes no fixed TCP host port" in stderr


def test_further_ports_are_reported_as_unchecked(tmp_path: Path) -> None:
    file = compose(tmp_path, "c.yml", "services: {web: {image: nginx, ports: ['80:80', '443:443']}}\n")
    playbook, _, stderr = init(tmp_path, file)
    assert playbook["checks"]["web"]["tcp"]["port"] == 80
    assert "web: port {{ host }}:443 not checked" in stderr


def test_disabled_healthcheck_falls_back_to_the_port(tmp_path: Path) -> None:
    file = compose(
        tmp_path,
        "c.yml",
        """
        services:
          web: {image: nginx, ports: ["8080:80"], healthcheck: {disable: true}}
          api: {image: api, healthcheck: {test: ["NONE"]}}
    """,
    )
    checks = init(tmp_path, file)[0]["checks"]
    assert "tcp" in checks["web"]
    assert "docker_container" in checks["api"]


def test_variables_come_from_the_env_file_with_defaults(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("WEB_PORT", raising=False)
    monkeypatch.delenv("API_PORT", raising=False)
    (tmp_path / ".env").write_text("WEB_PORT=8088\n")
    file = compose(
        tmp_path,
        "c.yml",
        """
        services:
          web: {image: nginx, ports: ["${WEB_PORT}:80"]}
          api: {image: api, ports: ["${API_PORT:-9000}:80"]}
    """,
    )
    checks = init(tmp_path, file)[0]["checks"]
    assert checks["web"]["tcp"]["port"] == 8088
    assert checks["api"]["tcp"]["port"] == 9000


def test_double_dollar_is_a_literal_dollar() -> None:
    assert interpolate("test $$HOME ${X:-a}", {}) == "test $HOME a"


def test_template_braces_in_a_healthcheck_stay_literal(tmp_path: Path) -> None:
    file = compose(
        tmp_path,
        "c.yml",
        """
        services:
          api:
            image: api
            healthcheck: {test: ["CMD-SHELL", "test \\"$(docker inspect -f '{{.State.Status}}' x)\\" = running"]}
    """,
    )
    _, path, _ = init(tmp_path, file)
    from engine.playbook.loader import load_playbook

    check = load_playbook(path).nodes["api"].check
    assert check.cmd == "test \"$(docker inspect -f '{{.State.Status}}' x)\" = running"  # type: ignore[attr-defined]


def test_a_healthcheck_cannot_escape_into_a_template(tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    evil = "{% endraw %}{{ cycler.__init__.__globals__.os.popen('touch " + str(marker) + "').read() }}{% raw %}"
    file = tmp_path / "c.yml"
    file.write_text(json.dumps({"services": {"api": {"image": "api", "healthcheck": {"test": evil}}}}))
    _, path, _ = init(tmp_path, file)  # init, then validate: both exit 0
    from engine.playbook.loader import load_playbook

    assert load_playbook(path).nodes["api"].check.cmd == evil  # type: ignore[attr-defined]
    assert not marker.exists()


def test_names_and_addresses_from_compose_stay_literal(tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    evil = "{{ cycler.__init__.__globals__.os.popen('touch " + str(marker) + "').read() }}"
    service = {"image": "api", "container_name": evil, "ports": [{"published": 80, "host_ip": evil, "target": 80}]}
    file = tmp_path / "c.yml"
    file.write_text(json.dumps({"name": evil, "services": {"api": service, "web": {"image": "w"}}}))
    _, path, _ = init(tmp_path, file)
    from engine.playbook.loader import load_playbook

    playbook = load_playbook(path)
    assert playbook.vars["project"] == evil
    assert playbook.nodes["api"].check.host == evil  # type: ignore[attr-defined]
    assert not marker.exists()


def test_a_line_break_in_a_compose_value_cannot_add_lines_to_the_playbook(tmp_path: Path) -> None:
    injected = "x\nnotify: [{command: {cmd: 'touch marker'}}]\n#"
    file = tmp_path / "c.yml"
    file.write_text(json.dumps({"services": {injected: {"image": "a", "profiles": ["off"]}, "web": {"image": "w"}}}))
    playbook, _, _ = init(tmp_path, file)
    assert "notify" not in playbook


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(TEMPLATE_PIECES), min_size=1, max_size=12).map("".join).filter(str.strip))  # a blank healthcheck is no command
def test_any_healthcheck_reaches_the_playbook_unchanged(command: str) -> None:
    from engine.compose.importer import render, translate
    from engine.playbook.loader import build_playbook, read_playbook

    translation = translate({"services": {"api": {"image": "api", "healthcheck": {"test": command}}}}, project="p")
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "site.yml"
        path.write_text(render(translation, ["c.yml"]))
        playbook = build_playbook(read_playbook(path), {}, {})
    assert playbook.nodes["api"].check.cmd == command  # type: ignore[attr-defined]


def test_scaled_services_and_extends_are_reported(tmp_path: Path) -> None:
    file = compose(
        tmp_path,
        "c.yml",
        """
        services:
          worker: {image: w, deploy: {replicas: 3}}
          web: {image: nginx, extends: {file: common.yml, service: base}}
    """,
    )
    _, _, stderr = init(tmp_path, file)
    assert "worker: scaled to 3 containers" in stderr
    assert "web: `extends` not followed" in stderr
