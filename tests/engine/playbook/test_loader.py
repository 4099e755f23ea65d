"""The loader's every message, whole: each kind of bad playbook is named by file, line, column
and field with the words the author reads; and what a playbook loads to at the edges
(variables from three places, defaults under empty options, plain values from YAML)."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest

from engine.core.registry import ACTION_TYPES, CHECK_TYPES
from engine.errors import PlaybookError
from engine.playbook.loader import load_playbook
from engine.playbook.models import Playbook

ACTIONS = ", ".join(sorted(ACTION_TYPES))
CHECKS = ", ".join(sorted(CHECK_TYPES))
MODULES = ", ".join(sorted({*CHECK_TYPES, *ACTION_TYPES}))
TOP = "name, hosts, vars, defaults, checks, run_limits, maintenance, notify, alembic_node, alerts, approvals"
LOOP = "expected a list, or a template naming a variable that holds one, got"


def load(tmp_path: Path, text: str, hostvars: dict[str, Any] | None = None, **extra_vars: Any) -> Playbook:
    path = tmp_path / "playbook.yml"
    path.write_text(textwrap.dedent(text).lstrip())
    return load_playbook(path, hostvars, extra_vars)


def problems(
    tmp_path: Path, text: str, hostvars: dict[str, Any] | None = None, **extra_vars: Any
) -> list[str]:
    with pytest.raises(PlaybookError) as error:
        load(tmp_path, text, hostvars, **extra_vars)
    return [str(p).replace(str(tmp_path) + "/", "") for p in error.value.problems]


CASES: dict[str, tuple[str, list[str]]] = {
    "a missing checks: is placed at the document's start": (
        "name: demo\n",
        ["playbook.yml:1:1: checks: expected a mapping of node names to checks"],
    ),
    "a document that is not a mapping": (
        "- a\n",
        ["playbook.yml:1:1: expected a mapping with name and checks"],
    ),
    "an unknown top-level field": (
        """
        name: demo
        chekcs: {}
        checks: {a: {tcp: {port: 1}}}
        """,
        [f"playbook.yml:2:1: chekcs: unknown field 'chekcs' (did you mean 'checks'?); known: {TOP}"],
    ),
    "vars that are not a mapping": (
        """
        name: demo
        vars: [1]
        checks: {a: {tcp: {port: 1}}}
        """,
        ["playbook.yml:2:1: vars: expected a mapping of variable names to values"],
    ),
    "empty checks": (
        "name: demo\nchecks: {}\n",
        ["playbook.yml:2:1: checks: expected a mapping of node names to checks"],
    ),
    "nodes and steps of the wrong shape": (
        """
        name: demo
        checks:
          a: 3
          b:
            tcp: {port: 1}
            remediate: {command: {cmd: x}}
          c:
            tcp: {port: 1}
            remediate: [3, {}, {command: {cmd: x}, shell: {cmd: y}}, {comand: {cmd: x}}]
        """,
        [
            "playbook.yml:3:6: checks.a: expected a mapping with a check type such as http: or tcp:",
            "playbook.yml:6:5: checks.b.remediate: expected a list of steps",
            "playbook.yml:9:17: checks.c.remediate[0]: expected a mapping with an action type such as command:",
            f"playbook.yml:9:20: checks.c.remediate[1]: no action type given; expected one of: {ACTIONS}",
            f"playbook.yml:9:44: checks.c.remediate[2].shell: unknown action type 'shell'; known: {ACTIONS}",
            "playbook.yml:9:63: checks.c.remediate[3].comand: unknown action type 'comand' (did you mean 'command'?); "
            f"known: {ACTIONS}",
        ],
    ),
    "two check types, and an unknown key beside a check type": (
        """
        name: demo
        checks:
          a: {tcp: {port: 1}, http: {url: "http://x/"}}
          b: {tcp: {port: 1}, retrys: 1}
        """,
        [
            "playbook.yml:3:3: checks.a: one check type per entry, got tcp and http",
            "playbook.yml:4:23: checks.b.retrys: unknown check type 'retrys' (did you mean 'retries'?); "
            f"known: {CHECKS}",
        ],
    ),
    "when: that is not an expression": (
        """
        name: demo
        checks:
          a:
            tcp: {port: 1}
            when: 3
          b:
            tcp: {port: 1}
            remediate:
              - command: {cmd: x}
                when: [1]
              - command: {cmd: x}
                when: "a =="
        """,
        [
            "playbook.yml:5:11: checks.a.when: expected an expression, got 3",
            "playbook.yml:5:11: checks.a.when: expected a string, got 3",
            "playbook.yml:10:9: checks.b.remediate[0].when: expected an expression, got [1]",
            "playbook.yml:10:9: checks.b.remediate[0].when: expected a string, got [1]",
            "playbook.yml:12:15: checks.b.remediate[1].when: invalid expression 'a ==': unexpected 'end of template'",
        ],
    ),
    "unless: guards": (
        """
        name: demo
        checks:
          a:
            tcp: {port: 1}
            remediate:
              - command: {cmd: x}
                unless: 3
          b:
            tcp: {port: 1}
            remediate:
              - command: {cmd: x}
                unless: {tpc: {port: 1}}
          c:
            tcp: {port: 1}
            remediate:
              - command: {cmd: x}
                unless: {tcp: {port: x}}
          d:
            tcp: {port: 1}
            remediate:
              - command: {cmd: 3}
                unless: {tcp: {port: 1}}
          e:
            tcp: {port: 1}
            remediate:
              - command: {cmd: x}
                unless: {tcp: {port: 1, nope: 2}}
        """,
        [
            "playbook.yml:7:17: checks.a.remediate[0].unless: expected a mapping with a check type",
            "playbook.yml:12:18: checks.b.remediate[0].unless.tpc: unknown check type 'tpc' (did you mean 'tcp'?); "
            f"known: {CHECKS}",
            'playbook.yml:17:30: checks.c.remediate[0].unless.tcp.port: expected an integer, got "x"',
            "playbook.yml:21:24: checks.d.remediate[0].command.cmd: expected a string or a list, got 3",
            "playbook.yml:27:33: checks.e.remediate[0].unless.tcp.nope: unknown field 'nope'; "
            "known: host, port, timeout, via_host",
        ],
    ),
    "an unknown option is named with the options of its own model": (
        """
        name: demo
        checks:
          a:
            tcp: {port: 1}
            backoff: {initiall: 1s}
          b:
            docker_env: {container: x, nam: JWT_SECRET}
        """,
        [
            "playbook.yml:5:15: checks.a.backoff.initiall: unknown field 'initiall' (did you mean 'initial'?); "
            "known: factor, initial, jitter, max",
            "playbook.yml:7:5: checks.b.docker_env.name: required field is missing",
            "playbook.yml:7:32: checks.b.docker_env.nam: unknown field 'nam' (did you mean 'name'?); "
            "known: container, contains, docker_host, equals, min_length, name, project, service, set, timeout",
        ],
    ),
    "unknown fields of the playbook's own sections": (
        """
        name: demo
        run_limits: {max_runz: 1}
        notify:
          - {command: {cmd: x}, nope: 1}
        alerts:
          - {match: {a: b}, nodes: [a], nope: 1}
        checks:
          a:
            tcp: {port: 1}
        """,
        [
            "playbook.yml:2:14: run_limits.max_runz: unknown field 'max_runz'; "
            "known: max_actions_per_run, max_unhealthy_share",
            "playbook.yml:4:25: notify[0].nope: unknown field 'nope'; known: command, on, webhook",
            "playbook.yml:6:33: alerts[0].nope: unknown field 'nope' (did you mean 'nodes'?); known: host_label, match, match_re, nodes, window",
        ],
    ),
    "names of nodes that are not nodes (routes of the wrong shape are left to the model)": (
        """
        name: demo
        alembic_node: c
        alerts:
          - {match: {a: b}, nodes: [a, c]}
          - {match: {a: b}, nodes: a}
          - 3
        checks:
          a:
            tcp: {port: 1}
          b:
            tcp: {port: 1}
        """,
        [
            "playbook.yml:2:15: alembic_node: 'c' is not a node; nodes: a, b",
            "playbook.yml:4:32: alerts[0].nodes[1]: 'c' is not a node; nodes: a, b",
        ],
    ),
    "a loop over what is not a list": (
        """
        name: demo
        checks:
          a:
            tcp: {port: 1}
            loop: "a,b"
          b:
            tcp: {port: 1}
            loop: 3
          c:
            tcp: {port: 1}
            loop: {a: 1}
          d:
            tcp: {port: 1}
            loop: true
          e:
            tcp: {port: 1}
            loop:
          f:
            tcp: {port: 1}
            loop: 1.5
          g:
            tcp: {port: 1}
            loop: 2024-01-31
        """,
        [
            f"playbook.yml:5:11: checks.a.loop: {LOOP} a string ('a,b')",
            f"playbook.yml:8:11: checks.b.loop: {LOOP} a number (3)",
            f"playbook.yml:11:5: checks.c.loop: {LOOP} a mapping ({{'a': 1}})",
            f"playbook.yml:14:11: checks.d.loop: {LOOP} a boolean (True)",
            f"playbook.yml:18:3: checks.e.loop: {LOOP} nothing",
            f"playbook.yml:20:11: checks.f.loop: {LOOP} a number (1.5)",
            f"playbook.yml:23:11: checks.g.loop: {LOOP} date (datetime.date(2024, 1, 31))",
        ],
    ),
    "loop items that give no node name": (
        """
        name: demo
        checks:
          a:
            tcp: {port: 1}
            loop: [{x: 1}, true, [1], "b c", "", 1, 1, 2.5, "x:y"]
        """,
        [
            "playbook.yml:5:12: checks.a.loop[0]: item 0 is a mapping ({'x': 1}): name the nodes with a template key "
            "such as 'a_{{ item.name }}'",
            "playbook.yml:5:20: checks.a.loop[1]: item 1 is a boolean (True): name the nodes with a template key "
            "such as 'a_{{ item.name }}'",
            "playbook.yml:5:26: checks.a.loop[2]: item 2 is a list ([1]): name the nodes with a template key "
            "such as 'a_{{ item.name }}'",
            "playbook.yml:5:31: checks.a.loop[3]: item 3 gives the node name 'a_b c': expected no spaces or ':'",
            "playbook.yml:5:45: checks.a.loop[6]: item 6 gives the node name 'a_1', as item 5 does",
            "playbook.yml:5:53: checks.a.loop[8]: item 8 gives the node name 'a_x:y': expected no spaces or ':'",
        ],
    ),
    "loop_var, templated keys and loops that do not render": (
        """
        name: demo
        checks:
          "a_{{ item }}":
            tcp: {port: 1}
          b:
            tcp: {port: 1}
            loop_var: 3
          c:
            tcp: {port: 1}
            loop_var: x
          d:
            tcp: {port: 1}
            loop: "{{ nope }}"
          "e_{{ item.x }}":
            tcp: {port: 1}
            loop: [1, 2]
          "f{{ item }}":
            tcp: {port: 1}
            loop: ["", "{{ '{' }}"]
          g:
            tcp: {port: 1}
            loop: ["{{ nope }}"]
        """,
        [
            "playbook.yml:3:3: checks.a_{{ item }}: a node name with a template needs a loop: to give it items",
            "playbook.yml:7:15: checks.b.loop_var: expected a variable name, got 3",
            "playbook.yml:10:15: checks.c.loop_var: loop_var without loop: name the items with loop:",
            "playbook.yml:13:11: checks.d.loop: 'nope' is undefined in '{{ nope }}'",
            "playbook.yml:16:12: checks.e_{{ item.x }}.loop[0]: item 0: 'int object' has no attribute 'x' "
            "in 'e_{{ item.x }}'",
            "playbook.yml:16:15: checks.e_{{ item.x }}.loop[1]: item 1: 'int object' has no attribute 'x' "
            "in 'e_{{ item.x }}'",
            "playbook.yml:22:5: checks.g.loop: 'nope' is undefined in '{{ nope }}'",
        ],
    ),
    "a looped node's problems name the expanded node": (
        """
        name: demo
        checks:
          a:
            tcp: {port: "{{ item }}"}
            loop: [1, x]
            retries: "{{ item }}"
        """,
        [
            'playbook.yml:4:17: checks.a_x.tcp.port: expected an integer, got "x"',
            'playbook.yml:6:14: checks.a_x.retries: expected an integer, got "x"',
        ],
    ),
    "a bad default met by a looped node stays at the default's line": (
        """
        name: demo
        defaults:
          tcp: {timeout: zz}
        checks:
          a:
            tcp: {port: "{{ item }}"}
            loop: [1]
        """,
        [
            "playbook.yml:3:18: defaults.tcp.timeout: expected a duration such as 500ms, 5s, 2m or 1h, got 'zz'"
        ],
    ),
    "a bad default deep in an option is placed at its own line": (
        """
        name: demo
        defaults:
          http: {headers: {X: [1]}}
        checks:
          a:
            http: {url: "http://x/"}
        """,
        ["playbook.yml:3:20: defaults.http.headers.X: expected a string, got [1]"],
    ),
    "an item's problem and a later item's node problem each keep their place": (
        """
        name: demo
        checks:
          a:
            tcp: {port: "{{ item }}"}
            loop: [1, 1, x]
        """,
        [
            "playbook.yml:5:15: checks.a.loop[1]: item 1 gives the node name 'a_1', as item 0 does",
            'playbook.yml:4:17: checks.a_x.tcp.port: expected an integer, got "x"',
        ],
    ),
    "a node defined twice, by a loop": (
        """
        name: demo
        checks:
          a_1: {tcp: {port: 1}}
          a_2: {tcp: {port: 1}}
          a:
            tcp: {port: 1}
            loop: [1, 2]
        """,
        [
            "playbook.yml:7:12: checks.a.loop[0]: node 'a_1' is defined twice (also by checks.a_1)",
            "playbook.yml:7:15: checks.a.loop[1]: node 'a_2' is defined twice (also by checks.a_2)",
        ],
    ),
    "a template in a node that does not render": (
        """
        name: demo
        checks:
          a:
            tcp: {port: 1}
            remediate:
              - command: {cmd: "{{ nope }}"}
        """,
        ["playbook.yml:6:24: checks.a.remediate[0].command.cmd: 'nope' is undefined in '{{ nope }}'"],
    ),
    "a template in a section that does not render": (
        """
        name: demo
        run_limits: {max_actions_per_run: "{{ nope }}"}
        checks:
          a:
            tcp: {port: 1}
        """,
        ["playbook.yml:2:35: run_limits.max_actions_per_run: 'nope' is undefined in '{{ nope }}'"],
    ),
    "defaults of the wrong shape, and a default that does not render": (
        """
        name: demo
        defaults:
          tcp: 3
          command: {timeout: "{{ nope }}"}
        checks:
          a:
            tcp: {port: 1}
        """,
        [
            "playbook.yml:3:8: defaults.tcp: expected a mapping of tcp options to their default values",
            "playbook.yml:4:3: defaults.command: 'nope' is undefined in '{{ nope }}'",
        ],
    ),
    "defaults that are not a mapping": (
        "name: demo\ndefaults: [1]\nchecks: {a: {tcp: {port: 1}}}\n",
        ["playbook.yml:2:1: defaults: expected a mapping of module keys (check or action types) to options"],
    ),
    "every bad module key of defaults": (
        "name: demo\ndefaults: {tpc: {}, htp: {}, tcp: 3}\nchecks: {a: {tcp: {port: 1}}}\n",
        [
            f"playbook.yml:2:12: defaults.tpc: unknown module key 'tpc' (did you mean 'tcp'?); known: {MODULES}",
            f"playbook.yml:2:21: defaults.htp: unknown module key 'htp' (did you mean 'http'?); known: {MODULES}",
            "playbook.yml:2:35: defaults.tcp: expected a mapping of tcp options to their default values",
        ],
    ),
    "a node's own options of the wrong shape under defaults": (
        """
        name: demo
        defaults:
          tcp: {timeout: 1s}
        checks:
          a:
            tcp: 3
          b:
            tcp: {port: x}
        """,
        [
            "playbook.yml:6:10: checks.a.tcp: expected a mapping, got 3",
            'playbook.yml:8:17: checks.b.tcp.port: expected an integer, got "x"',
        ],
    ),
}


@pytest.mark.parametrize(("text", "expected"), CASES.values(), ids=CASES.keys())
def test_each_kind_of_bad_playbook_gets_its_messages_in_order(
    tmp_path: Path, text: str, expected: list[str]
) -> None:
    assert problems(tmp_path, text) == expected


# --- variables from three places ----------------------------------------------------------------

BAD = "{{ nope }}"
USES_V = 'name: demo\nchecks:\n  a:\n    command: {cmd: "{{ v }}"}\n'


def test_a_bad_playbook_variable_is_placed_at_the_failing_value(tmp_path: Path) -> None:
    text = 'name: demo\nvars:\n  ok: 1\n  v: {k: ["x", "{{ nope }}"]}\nchecks:\n  a:\n    command: {cmd: "{{ v }}"}\n'
    assert problems(tmp_path, text) == [
        "playbook.yml:4:16: vars.v.k[1]: variable 'v': 'nope' is undefined in '{{ nope }}'"
    ]


def test_a_bad_extra_variable_says_it_came_from_the_command_line(tmp_path: Path) -> None:
    assert problems(tmp_path, USES_V, v=BAD) == [
        "playbook.yml:1:1: vars: variable 'v': 'nope' is undefined in '{{ nope }}' (from -e)"
    ]


def test_an_extra_variable_over_a_bad_playbook_variable_is_still_from_the_command_line(
    tmp_path: Path,
) -> None:
    text = 'name: demo\nvars: {v: 1}\nchecks:\n  a:\n    command: {cmd: "{{ v }}"}\n'
    assert problems(tmp_path, text, v=BAD) == [
        "playbook.yml:2:1: vars: variable 'v': 'nope' is undefined in '{{ nope }}' (from -e)"
    ]


def test_a_bad_inventory_variable_says_it_came_from_the_inventory(tmp_path: Path) -> None:
    assert problems(tmp_path, USES_V, hostvars={"v": BAD}) == [
        "playbook.yml:1:1: vars: variable 'v': 'nope' is undefined in '{{ nope }}' (from the inventory)"
    ]


def test_variables_in_a_loop_are_a_problem_of_vars_naming_them(tmp_path: Path) -> None:
    text = 'name: demo\nvars: {a: "{{ b }}", b: "{{ a }}"}\nchecks:\n  a:\n    tcp: {port: 1}\n'
    assert problems(tmp_path, text) == [
        "playbook.yml:2:1: vars: variables refer to each other in a loop: a, b"
    ]


def test_extra_vars_win_over_playbook_vars_which_win_over_the_inventory(tmp_path: Path) -> None:
    text = (
        "name: demo\nvars: {a: play, b: play}\nchecks:\n  x:\n    command: {cmd: '{{ a }} {{ b }} {{ c }}'}\n"
    )
    playbook = load(tmp_path, text, {"a": "inv", "b": "inv", "c": "inv"}, a="extra")
    assert playbook.vars == {"a": "extra", "b": "play", "c": "inv"}
    assert playbook.nodes["x"].check.model_dump()["cmd"] == "extra play inv"
    assert playbook.source == str(tmp_path / "playbook.yml")


def test_a_bad_item_of_a_loop_over_a_variable_is_placed_at_the_loop(tmp_path: Path) -> None:
    text = 'name: demo\nchecks:\n  a:\n    tcp: {port: 1}\n    loop: "{{ items }}"\n'
    assert problems(tmp_path, text, items=[{"x": 1}]) == [
        "playbook.yml:5:11: checks.a.loop: item 0 is a mapping ({'x': 1}): name the nodes with a template key "
        "such as 'a_{{ item.name }}'"
    ]


# --- loading ------------------------------------------------------------------------------------


def test_the_header_and_its_sections_load_rendered(tmp_path: Path) -> None:
    text = """
    name: demo
    hosts: web
    alembic_node: a
    vars: {who: ops, hours: 2h}
    run_limits: {max_actions_per_run: "{{ 3 }}"}
    maintenance:
      - {cron: "0 3 * * *", duration: "{{ hours }}", reason: "by {{ who }}"}
    notify:
      - command: {cmd: "echo {{ who }}"}
    alerts:
      - {match: {team: "{{ who }}"}, nodes: [a]}
    approvals: {expires: "{{ hours }}", page: "{{ who }}"}
    checks:
      a:
        tcp: {port: 1}
    """
    playbook = load(tmp_path, text)
    assert (playbook.name, playbook.hosts, playbook.alembic_node) == ("demo", "web", "a")
    assert playbook.run_limits.max_actions_per_run == 3
    assert (playbook.maintenance[0].duration, playbook.maintenance[0].reason) == (7200.0, "by ops")
    assert playbook.notify[0].model_dump()["command"]["cmd"] == "echo ops"
    assert playbook.alerts[0].match == {"team": "ops"}
    assert (playbook.approvals.expires, playbook.approvals.page) == (7200.0, "ops")


def test_a_bad_variable_leaves_the_defaults_rendered_without_variables(tmp_path: Path) -> None:
    text = """
    name: demo
    vars: {v: "{{ nope }}"}
    defaults:
      tcp: {timeout: "{{ v }}"}
    checks:
      a:
        tcp: {port: 1}
    """
    assert problems(tmp_path, text) == [
        "playbook.yml:2:11: vars.v: variable 'v': 'nope' is undefined in '{{ nope }}'",
        "playbook.yml:4:3: defaults.tcp: 'v' is undefined in '{{ v }}'",
    ]


def test_a_default_fills_a_check_written_with_no_options(tmp_path: Path) -> None:
    text = "name: demo\ndefaults:\n  command: {cmd: 'true'}\nchecks:\n  a:\n    command:\n"
    assert load(tmp_path, text).nodes["a"].check.model_dump()["cmd"] == "true"


def test_a_when_given_as_a_boolean_is_not_called_an_expression_problem(tmp_path: Path) -> None:
    messages = problems(tmp_path, "name: demo\nchecks:\n  a:\n    tcp: {port: 1}\n    when: true\n")
    assert not any("expected an expression" in m for m in messages)


def test_yaml_scalars_load_as_plain_values(tmp_path: Path) -> None:
    text = "name: demo\nvars: {f: 1.5, i: 0x10, b: yes, t: true, s: x}\nchecks:\n  a:\n    tcp: {port: 1}\n"
    variables = load(tmp_path, text).vars
    assert [(type(v), v) for v in variables.values()] == [
        (float, 1.5),
        (int, 16),
        (str, "yes"),
        (bool, True),
        (str, "x"),
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "name: demo\nchecks:\n  a: {tcp: {port: 1}\n",
            "playbook.yml:4:1: invalid YAML: expected ',' or '}', but got '<stream end>'",
        ),
        ("name: demo\n  checks: 1\n", "playbook.yml:2:9: invalid YAML: mapping values are not allowed here"),
        ("[" * 101 + "]" * 101 + "\n", "playbook.yml:1:1: nested deeper than 100 levels"),
        (
            "a: " + "1" * 101 + "\n",
            "playbook.yml:1:1: an integer longer than 100 digits; quote it if it is text",
        ),
    ],
    ids=["unclosed flow mapping", "bad indentation", "too deep", "too long an integer"],
)
def test_a_file_that_does_not_parse_is_placed_at_the_fault(tmp_path: Path, text: str, message: str) -> None:
    (path := tmp_path / "playbook.yml").write_text(text)
    with pytest.raises(PlaybookError) as error:
        load_playbook(path)
    assert [str(p).replace(str(tmp_path) + "/", "") for p in error.value.problems] == [message]


def test_a_file_that_cannot_be_read_is_named(tmp_path: Path) -> None:
    with pytest.raises(PlaybookError) as error:
        load_playbook(tmp_path / "missing.yml")
    (problem,) = error.value.problems
    assert (problem.file, problem.line, problem.column) == (str(tmp_path / "missing.yml"), 0, 0)
    assert str(problem).endswith("cannot read: No such file or directory")
