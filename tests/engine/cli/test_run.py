"""The `remediate` command line: commands, exit statuses, logs, reports and secrets."""

from __future__ import annotations

import json
import shlex
import sqlite3
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
from click.testing import CliRunner
from ruamel.yaml import YAML

from engine.cli.app import cli
from tests.servers.redis import RedisServer
from tests.support.fixtures import FIXTURES
from tests.support.playbooks import write_playbook
from tests.support.services import free_port

REMEDIATE = str(Path(sys.executable).parent / "remediate")
DEMO = FIXTURES / "playbooks" / "demo.yml"


def remediate(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([REMEDIATE, *args], capture_output=True, text=True, timeout=120)


HEALTHY = """
name: healthy
checks:
  ok: {command: {cmd: "true"}}
"""

BROKEN = """
name: broken
checks:
  db:
    command: {cmd: "test -e {{ marker }}"}
    remediate:
      - command: {cmd: "touch {{ marker }}"}
"""


@pytest.mark.parametrize("command", [[], ["run"], ["check"], ["validate"], ["graph"], ["schema"]])
def test_every_command_has_help_with_examples(command: list[str]) -> None:
    result = CliRunner().invoke(cli, [*command, "--help"])
    assert result.exit_code == 0
    assert "Examples:" in result.output


def test_run_help_documents_the_exit_statuses() -> None:
    output = CliRunner().invoke(cli, ["run", "--help"]).output
    for status in (
        "0  every node healthy",
        "1  some node failed",
        "2  invalid input",
        "3  another run holds",
        "128+N  stopped by signal N",
    ):
        assert status in output


def test_a_healthy_run_exits_0(tmp_path: Path) -> None:
    assert remediate("run", str(write_playbook(tmp_path, HEALTHY))).returncode == 0


def test_a_run_that_remediates_exits_0_and_fixes_the_node(tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    result = remediate("run", str(write_playbook(tmp_path, BROKEN)), "-e", f"marker={marker}")
    assert result.returncode == 0, result.stderr
    assert marker.exists()
    assert "1 remediated" in result.stdout


def test_a_node_that_stays_broken_exits_1(tmp_path: Path) -> None:
    playbook = write_playbook(tmp_path, 'name: x\nchecks:\n  db: {command: {cmd: "exit 1"}}\n')
    assert remediate("run", str(playbook)).returncode == 1


def test_an_invalid_playbook_exits_2_names_the_place_and_runs_nothing(tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    playbook = write_playbook(
        tmp_path,
        f"""
        name: invalid
        checks:
          db:
            command: {{cmd: "touch {marker}"}}
          api:
            tcp: {{port: two}}
    """,
    )
    result = remediate("run", str(playbook))
    assert result.returncode == 2
    assert f'{playbook}:6:17: checks.api.tcp.port: expected an integer, got "two"' in result.stderr
    assert "nothing was run" in result.stderr
    assert not marker.exists()


def test_dry_run_exits_1_lists_the_rendered_actions_and_changes_nothing(tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    result = remediate("run", "--dry-run", str(write_playbook(tmp_path, BROKEN)), "-e", f"marker={marker}")
    assert result.returncode == 1
    assert f"1. command: touch {marker}" in result.stdout
    assert not marker.exists()


DESTRUCTIVE = """
name: data
checks:
  data:
    command: {cmd: "test -e {{ marker }}"}
    verify: {within: 200ms, interval: 100ms}
    remediate:
      - name: wipe
        command: {cmd: "touch {{ wiped }}"}
        destructive: true
      - command: {cmd: "touch {{ marker }}"}
"""


def test_check_runs_no_action_whatever_the_flags(tmp_path: Path) -> None:
    marker, wiped, report = tmp_path / "marker", tmp_path / "wiped", tmp_path / "report.json"
    result = remediate(
        "check",
        str(write_playbook(tmp_path, DESTRUCTIVE)),
        "-e",
        f"marker={marker}",
        "-e",
        f"wiped={wiped}",
        "--forks",
        "4",
        "--report",
        str(report),
    )
    assert result.returncode == 1, result.stderr
    assert not marker.exists() and not wiped.exists()
    (node,) = json.loads(report.read_text())["nodes"]
    assert (node["outcome"], node["steps"], node["plan"]) == ("unhealthy", [], [])


def test_check_has_no_allow_destructive_option() -> None:
    result = CliRunner().invoke(cli, ["check", "x.yml", "--allow-destructive"])
    assert result.exit_code == 2
    assert "No such option '--allow-destructive'" in result.output


def test_a_command_step_marked_destructive_is_refused_without_allow_destructive(tmp_path: Path) -> None:
    marker, wiped, report = tmp_path / "marker", tmp_path / "wiped", tmp_path / "report.json"
    playbook = str(write_playbook(tmp_path, DESTRUCTIVE))
    args = [playbook, "-e", f"marker={marker}", "-e", f"wiped={wiped}", "--state", str(tmp_path / "s.db")]
    result = remediate("run", *args, "--report", str(report))
    assert result.returncode == 0, result.stderr
    assert marker.exists() and not wiped.exists()
    (node,) = json.loads(report.read_text())["nodes"]
    assert node["steps"][0]["status"] == "refused"
    assert "--allow-destructive" in node["steps"][0]["detail"]
    marker.unlink()
    assert "refused" in remediate("run", *args, "--dry-run").stdout
    remediate("run", *args, "--allow-destructive")
    assert wiped.exists()


def test_a_redis_delete_runs_only_with_allow_destructive(tmp_path: Path, redis_db: RedisServer) -> None:
    marker, report = tmp_path / "marker", tmp_path / "report.json"
    redis_db.client().set("beat-lock", "stale")
    playbook = write_playbook(
        tmp_path,
        f"""
        name: lock
        checks:
          lock:
            command: {{cmd: "test -e {marker}"}}
            verify: {{within: 200ms, interval: 100ms}}
            remediate:
              - name: drop the stale lock
                redis_command: {{url: "{redis_db.url}", password_env: {redis_db.password_env}, command: [DEL, beat-lock]}}
                destructive: true
              - command: {{cmd: "touch {marker}"}}
        """,
    )
    args = [str(playbook), "--state", str(tmp_path / "s.db"), "--report", str(report)]
    remediate("run", *args)
    steps = json.loads(report.read_text())["nodes"][0]["steps"]
    assert [s["status"] for s in steps] == ["refused", "changed"]
    assert redis_db.client().get("beat-lock") == "stale"
    marker.unlink()
    remediate("run", *args, "--allow-destructive")
    steps = json.loads(report.read_text())["nodes"][0]["steps"]
    assert steps[0]["status"] == "changed"
    assert redis_db.client().exists("beat-lock") == 0


def test_check_exits_1_when_remediation_would_be_needed(tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    result = remediate("check", str(write_playbook(tmp_path, BROKEN)), "-e", f"marker={marker}")
    assert result.returncode == 1
    assert "unhealthy" in result.stdout


def test_the_report_holds_every_node_with_its_steps(tmp_path: Path) -> None:
    marker, report = tmp_path / "marker", tmp_path / "report.json"
    remediate("run", str(write_playbook(tmp_path, BROKEN)), "-e", f"marker={marker}", "--report", str(report))
    data = json.loads(report.read_text())
    assert (data["playbook"], data["exit_code"], data["counts"]) == ("broken", 0, {"remediated": 1})
    (node,) = data["nodes"]
    assert [s["status"] for s in node["steps"]] == ["changed"]


def test_json_logs_have_one_event_per_line_with_run_host_and_node(tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    result = remediate(
        "run", str(write_playbook(tmp_path, BROKEN)), "-e", f"marker={marker}", "--log-format", "json"
    )
    events = [json.loads(line) for line in result.stderr.splitlines()]
    steps = [e for e in events if e["event"] == "action"]
    assert steps and steps[0]["node"] == "db" and steps[0]["host"] == "localhost"
    assert {e["run_id"] for e in events} == {events[0]["run_id"]}
    assert [e["event"] for e in events if e.get("node") == "db"] == ["check", "action", "verify", "node"]


def test_secrets_never_appear_in_logs_summary_or_report(tmp_path: Path) -> None:
    report = tmp_path / "report.json"
    playbook = write_playbook(
        tmp_path,
        f"""
        name: leaky
        checks:
          api:
            http: {{url: "http://app:Sup3rSecret@127.0.0.1:{free_port()}/"}}
          db:
            command: {{cmd: "echo could not connect to postgresql://app:Sup3rSecret@db/app; exit 1"}}
    """,
    )
    result = remediate("run", str(playbook), "--log-format", "json", "--report", str(report))
    assert "http://app:***@127.0.0.1" in result.stderr
    assert "postgresql://app:***@db/app" in report.read_text()
    for text in (result.stdout, result.stderr, report.read_text()):
        assert "Sup3rSecret" not in text


def test_extra_vars_come_from_files_and_pairs(tmp_path: Path) -> None:
    (tmp_path / "vars.yml").write_text("api_port: 1\ndb_port: 2\nweb_port: 3\n")
    result = remediate(
        "validate",
        str(DEMO),
        "-e",
        f"@{tmp_path / 'vars.yml'}",
        "-e",
        "start_db=a restart_api=b restart_web=c",
    )
    assert result.returncode == 0, result.stderr
    assert "valid (3 nodes on 1 host(s))" in result.stdout


def test_validate_names_undefined_variables(tmp_path: Path) -> None:
    result = remediate("validate", str(DEMO))
    assert result.returncode == 2
    assert "'api_port' is undefined" in result.stderr


def test_graph_prints_dot_and_mermaid() -> None:
    args = ["-e", "api_port=1 db_port=2 web_port=3 start_db=a restart_api=b restart_web=c"]
    dot = remediate("graph", str(DEMO), *args, "--format", "dot").stdout
    assert '"db" -> "api";' in dot and '"api" -> "web";' in dot
    mermaid = remediate("graph", str(DEMO), *args, "--format", "mermaid").stdout
    assert mermaid.startswith("graph LR") and "n0 --> n1" in mermaid


def test_the_schema_accepts_the_demo_playbook_and_rejects_an_unknown_type() -> None:
    schema = json.loads(remediate("schema").stdout)
    demo = YAML(typ="safe").load(DEMO.read_text())
    jsonschema.validate(demo, schema)
    demo["checks"]["db"]["tcpp"] = demo["checks"]["db"].pop("tcp")
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(demo, schema)


def test_the_schema_accepts_defaults_and_loops_and_rejects_a_misspelt_default() -> None:
    schema = json.loads(remediate("schema").stdout)
    playbook = YAML(typ="safe").load(
        """
        name: demo
        defaults:
          docker_restart: {project: shop}
          command: {timeout: 5s, exit_code: 0}
        checks:
          "memory_{{ item }}":
            loop: [db, web]
            loop_var: item
            command: {cmd: "true"}
          up:
            loop: "{{ services }}"
            command: {cmd: "true"}
        """
    )
    jsonschema.validate(playbook, schema)
    playbook["defaults"]["docker_restart"] = {"projct": "shop"}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(playbook, schema)
    playbook["defaults"] = {"docker_restat": {"project": "shop"}}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(playbook, schema)


def test_graph_shows_each_node_a_loop_expands_to(tmp_path: Path) -> None:
    playbook = write_playbook(
        tmp_path,
        """
        name: demo
        checks:
          db: {command: {cmd: "true"}}
          "memory_{{ item }}":
            loop: [db, web]
            depends_on: [db]
            command: {cmd: "true"}
        """,
    )
    text = remediate("graph", str(playbook)).stdout
    assert text.splitlines() == [
        "db (command)",
        "memory_db (command, item=db)  <- db",
        "memory_web (command, item=web)  <- db",
    ]
    mermaid = remediate("graph", str(playbook), "--format", "mermaid").stdout
    assert '"memory_web (command)"' in mermaid and "n0 --> n2" in mermaid


def test_dry_run_with_no_playbook_uses_the_bundled_coffeestudio_playbook(tmp_path: Path) -> None:
    report = tmp_path / "report.json"
    result = CliRunner().invoke(cli, ["run", "--dry-run", "--report", str(report)])
    assert result.exit_code in (0, 1), result.output
    data = json.loads(report.read_text())
    assert data["playbook"] == "coffeestudio"
    assert {"postgres", "redis", "backend", "frontend"} <= {n["node"] for n in data["nodes"]}
    assert data["mode"] == "dry_run"


def test_bare_dry_run_flag_runs_the_bundled_playbook() -> None:
    result = remediate("--dry-run")
    assert result.returncode in (0, 1)
    assert "coffeestudio (dry_run" in result.stdout


# One secret per channel a variable can come from. Each holds regex metacharacters, spaces,
# a double quote, a backslash or URL punctuation; none holds a single quote (the playbook's
# commands quote them with it) or `{` (a template).
CHANNEL_SECRETS = {
    "extra_key_value": "p@ss w0rd.*+?(1)",
    "extra_json": 'Jk$(rm)[a]|^"q"\\z',
    "playbook_vars": "Pl4y \\d{2,} ^vars$",
    "host_vars": "H0st:pass/w@rd",
    "group_vars": "Gr0up~tok.en+9",
}


def _occurrences(secret: str, text: str) -> int:
    """How often a secret appears as it is, or escaped as JSON would write it."""
    escaped = json.dumps(secret)[1:-1]
    return text.count(secret) + (text.count(escaped) if escaped != secret else 0)


def test_no_secret_from_any_variable_layer_reaches_any_output(tmp_path: Path) -> None:
    from tests.support.cli import remediate as remediate_with_state
    from tests.support.webhook import Receiver

    secret = CHANNEL_SECRETS
    (tmp_path / "inventory.yml").write_text(
        json.dumps(
            {
                "all": {
                    "children": {
                        "web": {
                            "hosts": {
                                "localhost": {
                                    "ansible_connection": "local",
                                    "host_password": secret["host_vars"],
                                }
                            },
                            "vars": {"group_token": secret["group_vars"]},
                        }
                    }
                }
            }
        )
    )
    receiver = Receiver()
    login = "printf '%s\\n' 'login failed for {{ db_password }} with {{ api_key }}' >&2; exit 3"
    fix = "printf '%s\\n' 'cannot reset {{ admin_secret }}' >&2; exit 1"
    connect = (
        "printf '%s\\n' 'no answer from redis://:{{ host_password }}@127.0.0.1:1/0"
        "?access_token={{ group_token }}' >&2; exit 2"
    )
    playbook = tmp_path / "site.yml"
    playbook.write_text(
        f"""
name: secrets
hosts: web
vars:
  admin_secret: {json.dumps(secret["playbook_vars"])}
notify:
  - webhook: {{url: "{receiver.url}", retries: 0}}
    on: [escalation, remediation]
checks:
  login:
    command: {{cmd: {json.dumps(login)}}}
    limit: {{max: 1, within: 1h}}
    run_backoff: {{initial: 0s}}
    verify: {{within: 0s}}
    remediate:
      - name: "reset {{{{ admin_secret }}}} for {{{{ db_password }}}}"
        command: {{cmd: {json.dumps(fix)}}}
  cache:
    command: {{cmd: {json.dumps(connect)}}}
"""
    )
    invalid = tmp_path / "invalid.yml"
    invalid.write_text(
        'name: invalid\nhosts: web\nchecks:\n  cache:\n    command: "redis://:{{ host_password }}@h"\n'
    )
    variables = [
        "-e",
        f"db_password={shlex.quote(secret['extra_key_value'])}",
        "-e",
        json.dumps({"api_key": secret["extra_json"]}),
    ]
    common = [str(playbook), "-i", str(tmp_path / "inventory.yml"), *variables]
    state = tmp_path / "state.db"

    def run(*arguments: str) -> subprocess.CompletedProcess[str]:
        return remediate_with_state(*arguments, state=state, cwd=tmp_path)

    try:
        results = [
            run("check", *common, "--log-format", "console"),
            run("run", "--dry-run", *common, "--log-format", "json"),
            run("run", *common, "--report", "first.json", "--log-format", "json"),
            run("run", *common, "--report", "second.json", "--log-format", "console"),
            run("history"),
            run("status"),
            run("validate", str(invalid), "-i", str(tmp_path / "inventory.yml")),
        ]
    finally:
        receiver.close()

    assert [r.returncode for r in results] == [1, 1, 1, 1, 0, 0, 2], [r.stderr[-2000:] for r in results]
    assert "login failed for ***" in results[0].stdout + results[0].stderr  # the sinks still say what failed
    assert receiver.events == ["escalation", "escalation"]  # its ladder spent, then its limit reached
    database = sqlite3.connect(state)
    dump = "\n".join(database.iterdump())
    database.close()
    outputs = {
        **{f"{index}.stdout": r.stdout for index, r in enumerate(results)},
        **{f"{index}.stderr": r.stderr for index, r in enumerate(results)},
        "first.json": (tmp_path / "first.json").read_text(),
        "second.json": (tmp_path / "second.json").read_text(),
        "state": dump,
        "webhooks": json.dumps([body for _, _, body in receiver.requests]),
    }
    assert "reset ***" in outputs["state"]  # the step name was recorded, masked
    leaks = {
        (channel, sink): count
        for channel, value in secret.items()
        for sink, text in outputs.items()
        if (count := _occurrences(value, text))
    }
    assert leaks == {}
