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
from engine.compose.importer import (
    interpolate,
    interpolate_text,
    load_compose,
    merge_files,
    project_environment,
)
from engine.errors import ComposeError
from tests.support.fixtures import FIXTURES
from tests.support.templates import TEMPLATE_PIECES

COFFEESTUDIO = FIXTURES / "compose" / "coffeestudio.yml"
COMPOSE = FIXTURES / "compose"


@pytest.fixture(autouse=True)
def _no_compose_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    """The variables compose reads for itself come only from what a test sets."""
    for name in ("COMPOSE_PROFILES", "COMPOSE_PROJECT_NAME"):
        monkeypatch.delenv(name, raising=False)


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


# --- implicit dependencies ----------------------------------------------------------------------


def test_links_are_dependencies(tmp_path: Path) -> None:
    checks = init(tmp_path, COMPOSE / "links.yml")[0]["checks"]
    assert checks["app"]["depends_on"] == ["db", "cache", "files"]  # `cache:redis` is cache


def test_volumes_from_a_container_is_not_a_service_dependency(tmp_path: Path) -> None:
    _, _, stderr = init(tmp_path, COMPOSE / "links.yml")
    assert "some-other-container" not in stderr


def test_network_mode_of_a_service_is_a_dependency(tmp_path: Path) -> None:
    assert init(tmp_path, COMPOSE / "links.yml")[0]["checks"]["proxy"]["depends_on"] == ["vpn"]


def test_left_out_one_shot_jobs_keep_the_order_through_them(tmp_path: Path) -> None:
    playbook, _, _ = init(tmp_path, COMPOSE / "one-shot-chain.yml")
    assert set(playbook["checks"]) == {"db", "redis", "search", "app"}
    # app -> migrate -> (db, redis, index -> search)
    assert playbook["checks"]["app"]["depends_on"] == ["db", "redis", "search"]


def refused(tmp_path: Path, file: Path, *args: str) -> str:
    """Run `remediate init` on a file compose refuses: exit 2, nothing written; stderr."""
    output = tmp_path / "site.yml"
    result = CliRunner().invoke(cli, ["init", "-f", str(file), *args, "-o", str(output)])
    assert result.exit_code == 2, result.output
    assert not output.exists()
    assert "Traceback" not in result.output
    return result.stderr


def test_depends_on_an_undefined_service_is_an_invalid_file(tmp_path: Path) -> None:
    stderr = refused(tmp_path, COMPOSE / "undefined-dependency.yml")
    assert "undefined-dependency.yml:9: services.app.depends_on: " in stderr
    assert "service 'app' depends on undefined service 'databse': invalid compose project" in stderr


def test_a_service_that_is_not_a_mapping_is_an_invalid_file(tmp_path: Path) -> None:
    file = compose(tmp_path, "c.yml", "services:\n  db: {image: postgres}\n  web: nginx\n")
    assert "c.yml:3: services.web: expected a mapping, got 'nginx'" in refused(tmp_path, file)


def test_a_link_to_an_undefined_service_is_an_invalid_file(tmp_path: Path) -> None:
    file = compose(tmp_path, "c.yml", "services:\n  app:\n    image: a\n    links: ['db:database']\n")
    assert "c.yml:4: services.app.links: service 'app' depends on undefined service 'db'" in refused(
        tmp_path, file
    )


def test_a_dependency_defined_in_an_override_file_is_defined(tmp_path: Path) -> None:
    base = compose(tmp_path, "compose.yml", "services: {app: {image: a, depends_on: [db]}}\n")
    override = compose(tmp_path, "compose.override.yml", "services: {db: {image: postgres}}\n")
    assert init(tmp_path, base, override)[0]["checks"]["app"]["depends_on"] == ["db"]


def test_an_undefined_dependency_that_is_not_required_is_dropped_with_a_note(tmp_path: Path) -> None:
    file = compose(
        tmp_path, "c.yml", "services: {app: {image: a, depends_on: {db: {condition: service_started, required: false}}}}\n"
    )
    playbook, _, stderr = init(tmp_path, file)
    assert "depends_on" not in playbook["checks"]["app"]
    assert "app: depends on db, which is not defined (required: false); edge dropped" in stderr


# --- profiles and the project name, as compose reads them ---------------------------------------

PROFILED = """
services:
  app: {image: app}
  grafana: {image: grafana, profiles: [monitoring]}
  debugger: {image: delve, profiles: [debug]}
"""


def test_compose_profiles_from_the_environment_are_active(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COMPOSE_PROFILES", "monitoring")
    assert set(init(tmp_path, compose(tmp_path, "c.yml", PROFILED))[0]["checks"]) == {"app", "grafana"}


def test_compose_profiles_from_the_env_file_are_active(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text('# profiles\nCOMPOSE_PROFILES="monitoring,debug"\n')
    checks = init(tmp_path, compose(tmp_path, "c.yml", PROFILED))[0]["checks"]
    assert set(checks) == {"app", "grafana", "debugger"}


def test_a_comment_after_a_value_in_the_env_file_is_not_part_of_it(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("COMPOSE_PROFILES=monitoring # the dashboards\nPORT='8080 # not a comment'\n")
    file = compose(tmp_path, "c.yml", PROFILED + "  web: {image: nginx, environment: {P: '${PORT}'}}\n")
    assert set(init(tmp_path, file)[0]["checks"]) == {"app", "grafana", "web"}
    assert load_compose([file], project_environment(file, {}))["services"]["web"]["environment"] == {
        "P": "8080 # not a comment"
    }


def test_the_environment_wins_over_the_env_file_for_profiles(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / ".env").write_text("COMPOSE_PROFILES=monitoring\n")
    monkeypatch.setenv("COMPOSE_PROFILES", "debug")
    assert set(init(tmp_path, compose(tmp_path, "c.yml", PROFILED))[0]["checks"]) == {"app", "debugger"}


def test_profile_option_adds_to_compose_profiles(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("COMPOSE_PROFILES=monitoring\n")
    file = compose(tmp_path, "c.yml", PROFILED)
    assert set(init(tmp_path, file, args=("--profile", "debug"))[0]["checks"]) == {"app", "grafana", "debugger"}


def test_the_profile_star_activates_every_profile(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COMPOSE_PROFILES", "*")
    assert set(init(tmp_path, compose(tmp_path, "c.yml", PROFILED))[0]["checks"]) == {"app", "grafana", "debugger"}


NAMED = "name: from-file\nservices: {web: {image: nginx}}\n"


def test_compose_project_name_from_the_environment_wins_over_the_name_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COMPOSE_PROJECT_NAME", "from-environment")
    assert init(tmp_path, compose(tmp_path, "c.yml", NAMED))[0]["vars"]["project"] == "from-environment"


def test_compose_project_name_from_the_env_file_wins_over_the_name_key(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("COMPOSE_PROJECT_NAME=from-env-file\n")
    assert init(tmp_path, compose(tmp_path, "c.yml", NAMED))[0]["vars"]["project"] == "from-env-file"


def test_the_environment_wins_over_the_env_file_for_the_project_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / ".env").write_text("COMPOSE_PROJECT_NAME=from-env-file\n")
    monkeypatch.setenv("COMPOSE_PROJECT_NAME", "from-environment")
    assert init(tmp_path, compose(tmp_path, "c.yml", NAMED))[0]["vars"]["project"] == "from-environment"


def test_project_option_wins_over_compose_project_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COMPOSE_PROJECT_NAME", "from-environment")
    file = compose(tmp_path, "c.yml", NAMED)
    assert init(tmp_path, file, args=("-p", "from-option"))[0]["vars"]["project"] == "from-option"


def test_the_last_files_name_key_wins(tmp_path: Path) -> None:
    base = compose(tmp_path, "compose.yml", NAMED)
    override = compose(tmp_path, "compose.prod.yml", "name: from-override\n")
    assert init(tmp_path, base, override)[0]["vars"]["project"] == "from-override"


def test_the_name_key_is_interpolated(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("STAGE=prod\n")
    file = compose(tmp_path, "c.yml", "name: shop-${STAGE}\nservices: {web: {image: nginx}}\n")
    assert init(tmp_path, file)[0]["vars"]["project"] == "shop-prod"


# --- which ports are checked -------------------------------------------------------------------


def test_the_header_names_the_checked_ports_and_lists_the_others(tmp_path: Path) -> None:
    file = compose(
        tmp_path,
        "c.yml",
        """
        services:
          web: {image: nginx, ports: ["8080:80", "8443:443"]}
          db: {image: postgres, ports: ["5432:5432"], healthcheck: {test: ["CMD", "pg_isready"]}}
    """,
    )
    _, path, stderr = init(tmp_path, file)
    text = path.read_text()
    assert "# Ports checked: web: {{ host }}:8080\n" in text
    assert "#   - web: port {{ host }}:8443 not checked" in text
    assert "#   - db: port '5432:5432' not checked (its healthcheck is the check)" in text
    assert "db: port '5432:5432' not checked" in stderr


# --- interpolation, by the compose specification ------------------------------------------------

ENV = {"SET": "value", "EMPTY": "", "PORT": "9090"}


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("${SET}", "value"),
        ("$SET", "value"),
        ("$SET-bar", "value-bar"),  # an unbraced name ends at the first character not in a name
        ("${UNSET}", ""),
        ("$UNSET", ""),
        ("${UNSET:-default}", "default"),
        ("${EMPTY:-default}", "default"),
        ("${UNSET-default}", "default"),
        ("${EMPTY-default}", ""),  # set, though empty
        ("${SET:-default}", "value"),
        ("${UNSET:+alt}", ""),
        ("${EMPTY:+alt}", ""),
        ("${SET:+alt}", "alt"),
        ("${UNSET+alt}", ""),
        ("${EMPTY+alt}", "alt"),
        ("${DEBUG:+-d 2}", ""),
        ("${SET:+-d 2}", "-d 2"),
        ("${UNSET:-${ALSO_UNSET:-8080}}", "8080"),
        ("${UNSET:-${PORT:-8080}}", "9090"),
        ("${UNSET-$SET and ${SET}}", "value and value"),
        ("${EMPTY:-/non:-alphanumeric}", "/non:-alphanumeric"),
        ("${UNSET-error?msg}", "error?msg"),
        ("$$SET $${SET}", "$SET ${SET}"),
        ("a $ string, ^REGEX$, $}, $1", "a $ string, ^REGEX$, $}, $1"),
        ("${SET?must - be set}", "value"),
        ("${EMPTY?must be set}", ""),
    ],
)
def test_interpolation_form(template: str, expected: str) -> None:
    notes: list[str] = []
    assert interpolate_text(template, ENV, notes) == expected
    assert notes == []


@pytest.mark.parametrize(
    ("template", "note"),
    [
        ("${UNSET:?message with - in it}", "required variable UNSET is not set: message with - in it"),
        ("${EMPTY:?set EMPTY - see the README}", "required variable EMPTY is not set: set EMPTY - see the README"),
        ("${UNSET?bar-baz}", "required variable UNSET is not set: bar-baz"),
        ("${UNSET?}", "required variable UNSET is not set"),
        ("${UNSET:?in ${SET}}", "required variable UNSET is not set: in value"),
    ],
)
def test_missing_required_variable_is_reported_with_its_message(template: str, note: str) -> None:
    notes: list[str] = []
    assert interpolate_text(template, ENV, notes) == ""
    assert notes == [note]


@pytest.mark.parametrize("template", ["${", "${}", "${ }", "${ SET}", "${SET }", "${SET!}", "${SET:x}", "${SET"])
def test_malformed_interpolation_is_refused(template: str) -> None:
    with pytest.raises(ComposeError, match=r"c\.yml: services\.a\.image: invalid interpolation"):
        interpolate({"services": {"a": {"image": template}}}, ENV, source="c.yml")


def test_malformed_interpolation_is_invalid_input_with_file_and_line(tmp_path: Path) -> None:
    file = compose(tmp_path, "c.yml", "services:\n  web:\n    image: nginx\n    ports: ['${PORT:x}:80']\n")
    assert "c.yml:4: services.web.ports[0]: invalid interpolation '${PORT:x}:80'" in refused(tmp_path, file)


def test_interpolation_shapes_of_real_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("DEBUG", "API_SECRET", "API_PORT", "PORT", "PG_VERSION"):
        monkeypatch.delenv(name, raising=False)
    playbook, _, stderr = init(tmp_path, COMPOSE / "interpolation.yml")
    assert playbook["checks"]["db"]["docker_command"]["cmd"] == "pg_isready "  # not `pg_isready d 2`
    assert playbook["checks"]["api"]["tcp"]["port"] == 8080
    assert "required variable API_SECRET is not set: set API_SECRET - see the README" in stderr


def test_nested_default_takes_the_inner_variable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("API_PORT", raising=False)
    monkeypatch.setenv("PORT", "9090")
    monkeypatch.setenv("API_SECRET", "s")
    assert init(tmp_path, COMPOSE / "interpolation.yml")[0]["checks"]["api"]["tcp"]["port"] == 9090


# A reference model written from the specification: expressions are generated as trees,
# written out as text, and the text's interpolation must equal the tree's value.

NAMES = ["A", "B", "_c"]
VALUES = ["", "v", "8080", "-d 2", "$A", "}", "${B}"]  # a value is never interpolated again
TOP_TEXT = st.text(alphabet="ab -:?+{}/.", max_size=4)
WORD_TEXT = st.text(alphabet="ab -:?+/.", max_size=4)  # braces inside a word would nest


def _leaf(text: st.SearchStrategy[str]) -> st.SearchStrategy[tuple[Any, ...]]:
    return st.one_of(
        text.map(lambda t: ("text", t)),
        st.just(("escape",)),
        st.just(("dollar",)),
        st.tuples(st.just("var"), st.sampled_from(NAMES), st.booleans()),
    )


def _operation(word: st.SearchStrategy[list[tuple[Any, ...]]]) -> st.SearchStrategy[tuple[Any, ...]]:
    operators = st.sampled_from([":-", "-", ":+", "+", ":?", "?"])
    return st.tuples(st.just("op"), st.sampled_from(NAMES), operators, word)


WORDS = st.recursive(
    st.lists(_leaf(WORD_TEXT), max_size=3),
    lambda words: st.lists(st.one_of(_leaf(WORD_TEXT), _operation(words)), max_size=3),
    max_leaves=8,
)
EXPRESSIONS = st.lists(st.one_of(_leaf(TOP_TEXT), _operation(WORDS)), max_size=4)


def _write(nodes: list[tuple[Any, ...]]) -> str:
    out = ""
    for index, node in enumerate(nodes):
        kind = node[0]
        if kind == "text":
            out += node[1]
        elif kind == "escape":
            out += "$$"
        elif kind == "dollar":
            out += "$ "  # a `$` before a character that starts no name stays a `$`
        elif kind == "var":
            following = _write(nodes[index + 1 :])[:1]
            unbraced = node[2] and not (following.isalnum() or following == "_")
            out += f"${node[1]}" if unbraced else f"${{{node[1]}}}"
        else:
            out += f"${{{node[1]}{node[2]}{_write(node[3])}}}"
    return out


def _model(nodes: list[tuple[Any, ...]], env: dict[str, str], notes: list[str]) -> str:
    out = ""
    for node in nodes:
        kind = node[0]
        if kind == "text":
            out += node[1]
        elif kind == "escape":
            out += "$"
        elif kind == "dollar":
            out += "$ "
        elif kind == "var":
            out += env.get(node[1], "")
        else:
            _, name, operator, word = node
            is_set = name in env
            usable = is_set and (env[name] != "" or not operator.startswith(":"))
            if operator.endswith("-"):
                out += env[name] if usable else _model(word, env, notes)
            elif operator.endswith("+"):
                out += _model(word, env, notes) if usable else ""
            elif usable:
                out += env[name]
            else:
                message = _model(word, env, notes)
                note = f"required variable {name} is not set" + (f": {message}" if message else "")
                if note not in notes:
                    notes.append(note)
    return out


@settings(max_examples=500, deadline=None)
@given(EXPRESSIONS, st.dictionaries(st.sampled_from(NAMES), st.sampled_from(VALUES)))
def test_interpolation_matches_the_specification_model(nodes: list[tuple[Any, ...]], env: dict[str, str]) -> None:
    expected_notes: list[str] = []
    expected = _model(nodes, env, expected_notes)
    notes: list[str] = []
    assert interpolate_text(_write(nodes), env, notes) == expected
    assert notes == expected_notes


@settings(max_examples=300, deadline=None)
@given(st.text(), st.dictionaries(st.sampled_from(NAMES), st.sampled_from(VALUES)))
def test_doubled_dollars_always_read_back_as_the_text(text: str, env: dict[str, str]) -> None:
    assert interpolate_text(text.replace("$", "$$"), env) == text
