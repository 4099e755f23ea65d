"""Templates: rendered in a sandbox that runs no code, reads no file and bounds what a
template may compute; every failure is a TemplateProblem, never another exception."""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.errors import TemplateProblem
from engine.playbook import render
from engine.playbook.render import evaluate, literal, render_string, render_tree, resolve_variables
from tests.support.templates import TEMPLATE_PIECES

# --- the sandbox --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "template",
    [
        "{{ cycler.__init__.__globals__.os.popen('touch MARKER').read() }}",
        "{{ joiner.__init__.__globals__['os'].system('touch MARKER') }}",
        "{{ namespace.__init__.__globals__.__builtins__.open('MARKER', 'w') }}",
        "{{ (cycler|attr('__init__')|attr('__globals__'))['os'].system('touch MARKER') }}",
        "{{ ''['__class__']['__mro__'][1]['__subclasses__']() }}",
        "{{ lipsum.__globals__['__builtins__']['open']('MARKER', 'w') }}",
    ],
)
def test_a_template_cannot_run_code_or_open_files(template: str, tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    with pytest.raises(TemplateProblem):
        render_string(template.replace("MARKER", str(marker)), {})
    assert not marker.exists()


@pytest.mark.parametrize(
    "template",
    ["{% include 'f.yml' %}", "{% import 'f.yml' as f %}", "{% from 'f.yml' import x %}", "{% extends 'f.yml' %}"],
)
def test_include_import_and_extends_are_refused_with_a_clear_reason(template: str) -> None:
    with pytest.raises(TemplateProblem, match="is not allowed: a template cannot read other templates or files"):
        render_string(template, {})


@pytest.mark.parametrize("expression", ["x.__class__", "x['__class__']", "x|attr('__class__')"])
def test_a_dunder_attribute_in_a_when_is_refused_before_it_runs(expression: str) -> None:
    with pytest.raises(TemplateProblem, match="access to '__class__' is not allowed"):
        render.check_expression(expression)


@pytest.mark.parametrize(
    ("template", "reason"),
    [
        ("{{ 1/0 }}", "ZeroDivisionError: division by zero"),
        ("{{ range(1, 5, 0) }}", "range() arg 3 must not be zero"),
        ("{{ 'x'.nope() }}", "has no attribute 'nope'"),
        ("{{ none + 1 }}", "TypeError: unsupported operand"),
    ],
)
def test_a_runtime_error_is_a_template_problem_with_the_reason(template: str, reason: str) -> None:
    with pytest.raises(TemplateProblem) as problem:
        render_string(template, {})
    assert reason in str(problem.value) and template in str(problem.value)


def test_a_when_runtime_error_is_a_template_problem() -> None:
    with pytest.raises(TemplateProblem, match=r"cannot evaluate when: '1/0': ZeroDivisionError"):
        evaluate("1/0", {})


def test_ordinary_templates_still_render() -> None:
    variables = {"hosts": ["a", "b"], "port": 5432, "name": "api"}
    assert render_string("{{ hosts|join(',') }}:{{ port + 1 }}", variables) == "a,b:5433"
    assert render_string("{% for h in hosts %}{{ loop.index }}={{ h|upper }} {% endfor %}", variables) == "1=A 2=B "
    assert render_string("{{ '%s-%03d'|format(name, 7) }} {{ '{:>5}'.format(name) }}", variables) == "api-007   api"
    assert render_string("{{ name ~ '-' ~ port }} {{ 'ab' * 2 }} {{ 2 ** 10 }}", variables) == "api-5432 abab 1024"
    assert evaluate("port > 1000 and name in ['api', 'web']", variables) is True


# --- bounds -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "template",
    [
        "{{ range(10**9)|list }}",
        "{{ 'a' * 10**9 }}",
        "{{ [0] * 10**9 }}",
        "{{ 9 ** (10**9) }}",
        "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
        "{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}",
        "{% macro f(n) %}{% for i in range(10) %}{{ f(n - 1) if n }}{% endfor %}{% endmacro %}{{ f(9) }}",
        "{% for x in [1] recursive %}{{ loop([1]) }}{% endfor %}",
        "{% set ns = namespace(s='ab') %}{% for i in range(64) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}",
        "{% set ns = namespace(s='ab') %}{% for i in range(64) %}{% set ns.s = ns.s + ns.s %}{% endfor %}",
        "{{ 'a'|center(10**9) }}",
        "{{ 'a'.ljust(10**9) }}",
        "{{ '{:>1000000000}'.format(1) }}",
        "{{ '%1000000000d' % 1 }}",
        "{{ '%1000000000d'|format(1) }}",
        "{{ ('a' * 100000).replace('a', 'a' * 100000) }}",
        "{{ (range(100000)|map('string')|list) * 2 }}",
        "{{ (('a' * 100000 ~ '\n') * 9) | indent(10**6) }}",
        "{% for i in range(99999) %}{{ 'a' * 999 }}{% endfor %}",
    ],
)
def test_a_template_exceeding_a_bound_stops_quickly_with_a_problem(
    template: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The clock is the backstop, moved out of reach of a busy machine (100,000 steps took
    # over 5 s under mutmut on a loaded one): each of these must be stopped by a count.
    monkeypatch.setattr(render, "MAX_SECONDS", 60.0)
    with pytest.raises(TemplateProblem, match=r"exceeds a limit|Range too big") as raised:
        render_string(template, {})
    # stopped by a count or a size, not by the clock
    assert "took longer than" not in str(raised.value)


def test_a_template_running_past_the_time_bound_is_stopped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(render, "MAX_SECONDS", 0.0)
    with pytest.raises(TemplateProblem, match=r"exceeds a limit: took longer than 0s"):
        render_string("{% for i in range(10) %}{{ i }}{% endfor %}", {})


def test_a_variable_exceeding_a_bound_names_the_variable() -> None:
    with pytest.raises(TemplateProblem, match=r"variable 'big': template exceeds a limit") as problem:
        resolve_variables([{"big": "{{ 'a' * 10**9 }}"}])
    assert problem.value.path == ("big",)


# --- properties ---------------------------------------------------------------------------------

_OBJECTS = ["cycler", "joiner", "namespace", "range", "dict", "lipsum", "x", "''", "()", "[]", "self", "loop"]
_STEPS = [
    ".__init__", ".__globals__", ".__class__", ".__mro__", ".__subclasses__()", ".__base__",
    "['__globals__']", "['__builtins__']", "['__import__']('os')", ".os", ".popen('touch MARKER')",
    ".system('touch MARKER')", "['open']('SECRET')", ".read()", ".mro()", "[1]", "[-1]",
    "|attr('__class__')", "|attr('__globals__')", "|attr('popen')", ".__dict__", ".func_globals",
    ".gi_frame", ".f_globals", ".__self__", ".format(x)", ".keys()", "|list", "|string",
]
_FORMS = [
    "{{{{ {} }}}}",
    "{{% set a = {} %}}{{{{ a }}}}",
    "{{% for i in {} %}}{{{{ i }}}}{{% endfor %}}",
    "{{% if {} %}}y{{% endif %}}",
    "{{{{ ({})|string|length }}}}",
    "{{% with a = {} %}}{{{{ a }}}}{{% endwith %}}",
    "{{% macro m() %}}{{{{ {} }}}}{{% endmacro %}}{{{{ m() }}}}",
    "{{% filter upper %}}{{{{ {} }}}}{{% endfilter %}}",
]
dangerous_expressions = st.builds(
    lambda obj, steps: obj + "".join(steps), st.sampled_from(_OBJECTS), st.lists(st.sampled_from(_STEPS), max_size=6)
)


@pytest.fixture(scope="module")
def bait(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A marker that must never be created and a secret that must never be read."""
    directory = tmp_path_factory.mktemp("bait")
    secret = directory / "secret"
    secret.write_text("TOP-SECRET-CONTENT")
    return directory / "marker", secret


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(expression=dangerous_expressions, form=st.sampled_from(_FORMS))
def test_dangerous_templates_have_no_side_effect_and_render_or_fail_cleanly(
    bait: tuple[Path, Path], expression: str, form: str
) -> None:
    marker, secret = bait
    expression = expression.replace("MARKER", str(marker)).replace("SECRET", str(secret))
    try:
        rendered = render_string(form.format(expression), {"x": "text"})
    except TemplateProblem:
        pass
    else:
        assert "TOP-SECRET" not in rendered
    with contextlib.suppress(TemplateProblem):
        evaluate(expression, {"x": "text"})
    assert not marker.exists()


@given(st.lists(st.sampled_from(TEMPLATE_PIECES), max_size=12).map("".join) | st.text(max_size=40))
def test_literal_text_renders_back_to_itself(text: str) -> None:
    assert render_tree(literal(text), {}, frozenset()) == text


# --- variables ----------------------------------------------------------------------------------


def test_variables_resolve_whatever_order_they_refer_to_each_other_in() -> None:
    layers = [{"url": "http://{{ host }}:{{ port }}/", "host": "{{ name }}.local", "name": "db", "port": 5}]
    assert resolve_variables(layers)["url"] == "http://db.local:5/"


def test_what_a_variable_renders_to_is_not_rendered_again() -> None:
    variables = resolve_variables([{"braces": "{{ '{{' }} 7 * 7 }}", "uses": "[{{ braces }}]"}])
    assert variables == {"braces": "{{ 7 * 7 }}", "uses": "[{{ 7 * 7 }}]"}


def test_variables_referring_to_each_other_in_a_loop_are_named() -> None:
    with pytest.raises(TemplateProblem, match="variables refer to each other in a loop: a, b"):
        resolve_variables([{"a": "{{ b }}", "b": "{{ a }}", "c": "1"}])
