"""The bounds of a rendering at their edges: a template that reaches a bound exactly renders,
one a step, a character or a bit past it is refused with the bound it exceeded; and the
wording of every kind of template problem."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.errors import TemplateProblem
from engine.playbook import render
from engine.playbook.render import (
    MAX_INT_BITS,
    MAX_LENGTH,
    MAX_SECONDS,
    MAX_STEPS,
    check_expression,
    evaluate,
    is_template,
    literal,
    render_native,
    render_string,
    render_tree,
    resolve_variables,
)

HALF = "a" * (MAX_LENGTH // 2)
WIDE = 1 << (MAX_INT_BITS - 1)  # MAX_INT_BITS bits wide
TOO_WIDE = 1 << MAX_INT_BITS


@pytest.fixture(autouse=True)
def no_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """The time bound out of the way: near the other bounds a rendering takes about a second,
    which a busy machine may stretch past it; these tests are about the counts."""
    monkeypatch.setattr(render, "MAX_SECONDS", 60.0)


def refusal(template: str, variables: dict[str, Any] | None = None) -> str:
    """The reason a template over a bound is refused (the message names the template)."""
    with pytest.raises(TemplateProblem) as problem:
        render_string(template, variables or {})
    message = str(problem.value)
    prefix = "template exceeds a limit: "
    assert message.startswith(prefix), message
    reason, _, shown = message[len(prefix) :].partition(" in ")
    assert shown == repr(template)
    return reason


def test_the_bounds_are_the_documented_figures() -> None:
    assert (MAX_STEPS, MAX_LENGTH, MAX_INT_BITS, MAX_SECONDS) == (100_000, 1_000_000, 100_000, 5.0)


# --- steps: loop iterations and calls -----------------------------------------------------------


def test_a_loop_of_exactly_max_steps_iterations_renders() -> None:
    items = list(range(MAX_STEPS))
    assert render_string("{% for i in items %}{% endfor %}done", {"items": items}) == "done"


def test_one_iteration_more_than_max_steps_is_refused() -> None:
    items = list(range(MAX_STEPS + 1))
    reason = refusal("{% for i in items %}{% endfor %}", {"items": items})
    assert reason == "more than 100000 loop iterations and calls"


def test_calls_count_as_steps_like_iterations(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(render, "MAX_STEPS", 10)  # a call costs more than an iteration: fewer
    # one filter and one method call per iteration: a third of the iterations reach the bound
    template = "{% for i in items %}{% set _ = i|abs %}{% set _ = 'a'.upper() %}{% endfor %}"
    assert render_string(template, {"items": [1, 2, 3]}) == ""
    assert refusal(template, {"items": [1, 2, 3, 4]}) == "more than 10 loop iterations and calls"


def test_the_budget_is_new_for_each_rendering() -> None:
    items = list(range(MAX_STEPS))
    for _ in range(2):
        render_string("{% for i in items %}{% endfor %}", {"items": items})
        assert evaluate("items|length > 0", {"items": items}) is True


def test_the_time_bound_names_its_figure(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(render, "MAX_SECONDS", -1.0)
    assert refusal("{% for i in [1] %}{% endfor %}") == "took longer than -1s"


# --- sizes --------------------------------------------------------------------------------------

EDGES = {
    # template, variables, rendered length at the bound (None: not rendered whole)
    "repetition": ("{{ s * n }}", {"s": "ab", "n": MAX_LENGTH // 2}, {"n": MAX_LENGTH // 2 + 1}),
    "repetition, count first": ("{{ n * s }}", {"s": "ab", "n": MAX_LENGTH // 2}, {"n": MAX_LENGTH // 2 + 1}),
    "list repetition": (
        "{{ (l * n)|length }}",
        {"l": [0, 0], "n": MAX_LENGTH // 2},
        {"n": MAX_LENGTH // 2 + 1},
    ),
    "sum": ("{{ s + t }}", {"s": HALF, "t": HALF}, {"t": HALF + "a"}),
    "concatenation": ("{{ s ~ t }}", {"s": HALF, "t": HALF}, {"t": HALF + "a"}),
    "str.center": ("{{ 'a'.center(n) }}", {"n": MAX_LENGTH}, {"n": MAX_LENGTH + 1}),
    "str.ljust": ("{{ 'a'.ljust(n) }}", {"n": MAX_LENGTH}, {"n": MAX_LENGTH + 1}),
    "str.rjust": ("{{ 'a'.rjust(n) }}", {"n": MAX_LENGTH}, {"n": MAX_LENGTH + 1}),
    "str.zfill": ("{{ '1'.zfill(n) }}", {"n": MAX_LENGTH}, {"n": MAX_LENGTH + 1}),
    "str.expandtabs": ("{{ 'a\t'.expandtabs(n) }}", {"n": MAX_LENGTH - 2}, {"n": MAX_LENGTH - 1}),
    "str.expandtabs, the default size": (
        "{{ s.expandtabs() }}",
        {"s": "\t" * 111_111},
        {"s": "\t" * 111_112},
    ),
    "str.expandtabs, size by name": (
        "{{ 'a\t'.expandtabs(tabsize=n) }}",
        {"n": MAX_LENGTH - 2},
        {"n": MAX_LENGTH - 1},
    ),
    "str.replace": ("{{ s.replace('a', 'bb') }}", {"s": HALF}, {"s": HALF + "a"}),
    "str.replace, counted": (
        "{{ s.replace('a', 'bb', n) }}",
        {"s": HALF + "a", "n": MAX_LENGTH // 2 - 1},
        {"n": MAX_LENGTH // 2},
    ),
    "str.replace, empty old, empty text": (
        "{{ e.replace('', s) }}",
        {"e": "", "s": "a" * MAX_LENGTH},
        {"s": "a" * (MAX_LENGTH + 1)},
    ),
    "str.replace, empty old": ("{{ s.replace('', 'b') }}", {"s": "a" * (MAX_LENGTH // 2 - 1)}, {"s": HALF}),
    "str.join": (
        "{{ ','.join(l) }}",
        {"l": ["a"] * (MAX_LENGTH // 2)},
        {"l": ["a"] * (MAX_LENGTH // 2) + ["a"]},
    ),
    "str.format width": ("{{ ('{:>' ~ n ~ '}').format('a') }}", {"n": MAX_LENGTH}, {"n": MAX_LENGTH + 1}),
    "str.format nested width": ("{{ '{:>{w}}'.format('a', w=n) }}", {"n": MAX_LENGTH}, {"n": MAX_LENGTH + 1}),
    "str.format_map nested width": (
        "{{ '{a:>{w}}'.format_map({'a': 'a', 'w': n}) }}",
        {"n": MAX_LENGTH},
        {"n": MAX_LENGTH + 1},
    ),
    "% width": ("{{ ('%' ~ n ~ 's') % 'a' }}", {"n": MAX_LENGTH}, {"n": MAX_LENGTH + 1}),
    "% precision": ("{{ ('%.' ~ n ~ 'd') % 1 }}", {"n": MAX_LENGTH}, {"n": MAX_LENGTH + 1}),
    "% star width": ("{{ '%*s' % (n, 'a') }}", {"n": MAX_LENGTH}, {"n": MAX_LENGTH + 1}),
    "str.format, a later field": (
        "{{ ('{}{:>' ~ n ~ '}').format('a', 'b') }}",
        {"n": MAX_LENGTH - 1},
        {"n": MAX_LENGTH + 1},
    ),
    "format filter, star width": ("{{ '%*s'|format(n, 'a') }}", {"n": MAX_LENGTH}, {"n": MAX_LENGTH + 1}),
    "indent filter, one line": ("{{ 'a'|indent(n, true) }}", {"n": MAX_LENGTH - 1}, {"n": MAX_LENGTH + 1}),
    "center filter, two lines": ("{{ 'a\nb'|center(n) }}", {"n": MAX_LENGTH}, {"n": MAX_LENGTH + 1}),
    "center filter": ("{{ 'a'|center(n) }}", {"n": MAX_LENGTH}, {"n": MAX_LENGTH + 1}),
    "indent filter": ("{{ 'a\nb'|indent(n, true) }}", {"n": MAX_LENGTH // 2 - 2}, {"n": MAX_LENGTH // 2 + 1}),
    "format filter": ("{{ ('%' ~ n ~ 's')|format('a') }}", {"n": MAX_LENGTH}, {"n": MAX_LENGTH + 1}),
    "replace filter": ("{{ s|replace('a', 'bb') }}", {"s": HALF}, {"s": HALF + "a"}),
    "replace filter, counted": (
        "{{ s|replace('a', 'bb', n) }}",
        {"s": HALF + "a", "n": MAX_LENGTH // 2 - 1},
        {"n": MAX_LENGTH // 2},
    ),
    "join filter": (
        "{{ l|join(',') }}",
        {"l": ["a"] * (MAX_LENGTH // 2)},
        {"l": ["a"] * (MAX_LENGTH // 2) + ["a"]},
    ),
    "join filter, named separator": (
        "{{ l|join(d=',') }}",
        {"l": ["a"] * (MAX_LENGTH // 2)},
        {"l": ["a"] * (MAX_LENGTH // 2) + ["a"]},
    ),
    "a filter's result": ("{{ s|list|length }}", {"s": "a" * MAX_LENGTH}, {"s": "a" * (MAX_LENGTH + 1)}),
    "the output": ("{% for s in l %}{{ s }}{% endfor %}", {"l": [HALF, HALF]}, {"l": [HALF, HALF, "a"]}),
}

REASONS = {
    "repetition": "a repetition would be longer than 1000000 characters or items",
    "repetition, count first": "a repetition would be longer than 1000000 characters or items",
    "list repetition": "a repetition would be longer than 1000000 characters or items",
    "sum": "a sum would be longer than 1000000 characters or items",
    "concatenation": "a concatenation would be longer than 1000000 characters or items",
    "str.center": "str.center would be longer than 1000000 characters or items",
    "str.ljust": "str.ljust would be longer than 1000000 characters or items",
    "str.rjust": "str.rjust would be longer than 1000000 characters or items",
    "str.zfill": "str.zfill would be longer than 1000000 characters or items",
    "str.expandtabs": "str.expandtabs would be longer than 1000000 characters or items",
    "str.replace": "str.replace would be longer than 1000000 characters or items",
    "str.expandtabs, the default size": "str.expandtabs would be longer than 1000000 characters or items",
    "str.expandtabs, size by name": "str.expandtabs would be longer than 1000000 characters or items",
    "str.replace, counted": "str.replace would be longer than 1000000 characters or items",
    "str.replace, empty old": "str.replace would be longer than 1000000 characters or items",
    "str.replace, empty old, empty text": "str.replace would be longer than 1000000 characters or items",
    "str.join": "str.join would be longer than 1000000 characters or items",
    "str.format width": "a format width over 1000000",
    "str.format nested width": "a format width over 1000000",
    "str.format_map nested width": "a format width over 1000000",
    "% width": "a format width over 1000000",
    "% precision": "a format width over 1000000",
    "% star width": "a format width over 1000000",
    "center filter": "center would be longer than 1000000 characters or items",
    "str.format, a later field": "a format width over 1000000",
    "format filter, star width": "a format width over 1000000",
    "indent filter, one line": "indent would be longer than 1000000 characters or items",
    "center filter, two lines": "center would be longer than 1000000 characters or items",
    "indent filter": "indent would be longer than 1000000 characters or items",
    "format filter": "a format width over 1000000",
    "replace filter": "replace would be longer than 1000000 characters or items",
    "replace filter, counted": "replace would be longer than 1000000 characters or items",
    "join filter": "join would be longer than 1000000 characters or items",
    "join filter, named separator": "join would be longer than 1000000 characters or items",
    "a filter's result": "a value longer than 1000000 characters or items",
    "the output": "the output would be longer than 1000000 characters or items",
}


@pytest.mark.parametrize(("template", "at", "past"), EDGES.values(), ids=EDGES.keys())
def test_a_size_exactly_at_the_bound_renders(template: str, at: dict[str, Any], past: dict[str, Any]) -> None:
    render_string(template, at)


@pytest.mark.parametrize(
    ("name", "template", "at", "past"), [(k, *v) for k, v in EDGES.items()], ids=EDGES.keys()
)
def test_a_size_one_past_the_bound_is_refused_naming_the_bound(
    name: str, template: str, at: dict[str, Any], past: dict[str, Any]
) -> None:
    assert refusal(template, {**at, **past}) == REASONS[name]


@pytest.mark.parametrize(
    ("template", "variables", "rendered"),
    [
        ("{{ s.replace('a', '') }}", {"s": "a" * MAX_LENGTH}, ""),
        ("{{ s.replace('a', 'bb', 0) }}", {"s": "a" * MAX_LENGTH}, "a" * MAX_LENGTH),
        ("{{ s|replace('a', 'bb', 0) }}", {"s": "a" * MAX_LENGTH}, "a" * MAX_LENGTH),
        ("{{ s.join([]) }}", {"s": "a" * (MAX_LENGTH + 1)}, ""),
        ("{{ s.join(['b']) }}", {"s": "a" * (MAX_LENGTH + 1)}, "b"),
        ("{{ l|join(',') }}", {"l": [1, 22, None]}, "1,22,None"),
        ("{{ s|replace('a', 'bb', count=1) }}", {"s": "a" * (MAX_LENGTH - 1)}, "bb" + "a" * (MAX_LENGTH - 2)),
        ("{{ l|map('replace', 'x', 'y')|list|length }}", {"l": ["a" * 10_000] * 110}, "110"),
        ("{{ '%(a)s'|format(a='x') }}", {}, "x"),
        ("{{ 7 % 3 }}", {}, "1"),
        ("{{ 'a\nb'|indent('> ') }}", {}, "a\n> b"),
        ("{{ l|join }}", {"l": [HALF, HALF]}, HALF + HALF),
        ("{{ d[k] }}", {"d": {"a": 1}, "k": "a"}, "1"),
        ("{{ ('a'|attr(k))() }}", {"k": "upper"}, "A"),
        ("{{ nope|default('__x__') }}", {}, "__x__"),
        ("{{ s.translate({}) }}", {"s": "{:>2000000}"}, "{:>2000000}"),
        ("{{ s.encode('utf-8', 'strict')|length }}", {"s": "utf-8" * (MAX_LENGTH // 5)}, str(MAX_LENGTH)),
        ("{{ 'a,b'.split(',') }}", {}, "['a', 'b']"),
    ],
    ids=[
        "shrinking",
        "no replacement",
        "no replacement, filter",
        "no items",
        "one item",
        "items not strings",
        "a count given by name",
        "a filter mapped with string arguments",
        "format by name",
        "a remainder",
        "an indent given as text",
        "a join without a separator",
        "an item named by a variable",
        "an attribute named by a variable",
        "a dunder string that reads nothing",
        "a mapping given to a method that formats nothing",
        "two strings given to a method that replaces nothing",
        "a method that is not join given a string",
    ],
)
def test_a_result_within_the_bound_is_not_refused_for_its_inputs(
    template: str, variables: dict[str, Any], rendered: str
) -> None:
    assert render_string(template, variables) == rendered


@pytest.mark.parametrize(
    ("template", "variables", "error"),
    [
        ("{{ s + n }}", {"s": "a" * MAX_LENGTH, "n": 1}, "TypeError: can only concatenate str"),
        ("{{ '%*s' % l }}", {"l": [MAX_LENGTH + 1]}, "TypeError: * wants int"),
    ],
    ids=["an operand without a length counts as none", "a list is one argument of %"],
)
def test_an_operation_python_refuses_is_its_error_not_a_bound(
    template: str, variables: dict[str, Any], error: str
) -> None:
    with pytest.raises(TemplateProblem) as problem:
        render_string(template, variables)
    assert error in str(problem.value) and "exceeds a limit" not in str(problem.value)


def test_a_negative_repetition_is_empty_not_refused() -> None:
    assert render_string("{{ s * n }}|{{ n * s }}", {"s": "a" * (MAX_LENGTH + 1), "n": -1}) == "|"


def test_an_integer_exactly_max_int_bits_wide_is_allowed_and_one_bit_wider_is_not() -> None:
    assert render_string("{{ (x|int) > 0 }}", {"x": WIDE}) == "True"
    assert refusal("{{ (x|int) > 0 }}", {"x": TOO_WIDE}) == "an integer wider than 100000 bits"


def test_a_product_is_refused_by_the_widths_of_its_factors() -> None:
    half = 1 << (MAX_INT_BITS // 2 - 1)  # MAX_INT_BITS / 2 bits
    assert render_string("{{ (a * b) > 0 }}", {"a": half, "b": half}) == "True"
    assert refusal("{{ (a * b) > 0 }}", {"a": half, "b": half * 2}) == "a product wider than 100000 bits"


@pytest.mark.parametrize(
    ("base", "exponent"),
    [
        (2, MAX_INT_BITS - 1),
        (1, 10 * MAX_INT_BITS),
        (0, 10 * MAX_INT_BITS),
        (2, 0),
        (2, -3),
        (4, MAX_INT_BITS // 2 - 1),
    ],
)
def test_a_power_within_the_width_renders(base: int, exponent: int) -> None:
    assert render_string("{{ (b ** e) == r }}", {"b": base, "e": exponent, "r": base**exponent}) == "True"


@pytest.mark.parametrize(
    ("base", "exponent"),
    [(2, MAX_INT_BITS + 1), (4, MAX_INT_BITS // 2 + 1), (TOO_WIDE * 2, 1)],
    ids=["2**100001", "4**50001", "(2**100001)**1"],
)
def test_a_power_wider_than_the_bound_is_refused_before_it_is_computed(base: int, exponent: int) -> None:
    assert refusal("{{ b ** e }}", {"b": base, "e": exponent}) == "a power wider than 100000 bits"


def test_a_power_exactly_one_bit_too_wide_is_refused_by_its_result() -> None:
    assert refusal("{{ (2 ** e) > 0 }}", {"e": MAX_INT_BITS}) == "an integer wider than 100000 bits"


def test_an_invalid_brace_format_fails_as_str_format_does() -> None:
    with pytest.raises(TemplateProblem, match=r"ValueError: Single '\{' encountered in format string"):
        render_string("{{ '{'.format() }}", {})


def test_a_width_given_by_name_is_bounded_too() -> None:
    # str's own methods take no names (a TypeError next), but the width is refused first
    assert refusal("{{ 'a'.center(width=n) }}", {"n": MAX_LENGTH + 1}) == REASONS["str.center"]


def test_a_width_method_called_without_a_width_is_a_plain_error() -> None:
    with pytest.raises(TemplateProblem, match="TypeError"):
        render_string("{{ 'a'.center() }}", {})


# --- messages -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("{{ nope }}", "'nope' is undefined in '{{ nope }}'"),
        ("{{ nope + 1 }}", "'nope' is undefined in '{{ nope + 1 }}'"),
        ("{{ x.y }}", "'dict object' has no attribute 'y' in '{{ x.y }}'"),
        ("{{ 1 +  }}", "cannot render '{{ 1 +  }}': unexpected 'end of print statement'"),
        (
            "a\n{{ 1 +  }}",
            "cannot render 'a\\n{{ 1 +  }}': unexpected 'end of print statement' (template line 2)",
        ),
        ("{{ ''.__class__ }}", "cannot render \"{{ ''.__class__ }}\": access to '__class__' is not allowed"),
        (
            "{{ x.pop() }}",
            "not allowed in a template: access to attribute 'pop' of 'dict' object is unsafe in '{{ x.pop() }}'",
        ),
        (
            "{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}",
            "template exceeds a limit: calls itself too deeply in '{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}'",
        ),
        (
            "{{ x|float|round(1, 'up') }}",
            "cannot render \"{{ x|float|round(1, 'up') }}\": method must be common, ceil or floor",
        ),
        ("{{ 1/0 }}", "cannot render '{{ 1/0 }}': ZeroDivisionError: division by zero"),
    ],
)
def test_each_kind_of_template_problem_says_why_and_shows_the_template(template: str, message: str) -> None:
    with pytest.raises(TemplateProblem) as problem:
        render_string(template, {"x": {}})
    assert str(problem.value) == message


def test_a_template_of_200_characters_is_shown_whole_and_a_longer_one_cut() -> None:
    for size, shown in ((200, None), (201, 200)):
        template = "{{ nope|string }}" + "a" * (size - 17)
        with pytest.raises(TemplateProblem) as problem:
            render_string(template, {})
        expected = repr(template) if shown is None else repr(template[:shown]) + "..."
        assert str(problem.value) == f"'nope' is undefined in {expected}"


def test_an_undefined_name_in_a_when_is_named() -> None:
    with pytest.raises(TemplateProblem, match=r"^'nope' is undefined in when: 'nope == 1'$"):
        evaluate("nope == 1", {})


def test_a_when_that_does_not_parse_is_an_invalid_expression() -> None:
    with pytest.raises(TemplateProblem) as problem:
        check_expression("a ==")
    assert str(problem.value) == "invalid expression 'a ==': unexpected 'end of template'"


def test_a_when_over_a_bound_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(render, "MAX_STEPS", 10)
    assert evaluate("l|map('abs')|list", {"l": list(range(8))}) is True  # map, list, an abs each
    with pytest.raises(TemplateProblem, match=r"^template exceeds a limit: more than 10 loop"):
        evaluate("l|map('abs')|list", {"l": list(range(9))})


# --- native values ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("template", "value"),
    [
        ("{{ l }}", [1, 2]),
        ("{{l}}", [1, 2]),
        ("  {{ l }}\n", [1, 2]),
        ("{{ l|length }}", 2),
        ("{{ l }}{{ l }}", "[1, 2][1, 2]"),
        ("{{ n }}x", "3x"),
        ("x{{ n }}", "x3"),
        ("{{ none }}", None),
    ],
)
def test_a_template_that_is_one_expression_renders_to_its_own_type(template: str, value: Any) -> None:
    assert render_native(template, {"l": [1, 2], "n": 3}) == value


def test_a_bare_undefined_name_is_an_error_in_a_native_rendering() -> None:
    with pytest.raises(TemplateProblem, match=r"^'nope' is undefined in '\{\{ nope \}\}'$"):
        render_native("{{ nope }}", {})


def test_a_native_value_over_a_bound_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    assert render_native("{{ s }}", {"s": "a" * MAX_LENGTH}) == "a" * MAX_LENGTH
    with pytest.raises(TemplateProblem, match=r"^template exceeds a limit: a value longer than"):
        render_native("{{ s }}", {"s": "a" * (MAX_LENGTH + 1)})
    monkeypatch.setattr(render, "MAX_STEPS", 10)
    assert render_native("{{ l|map('abs')|list }}", {"l": list(range(8))}) == list(range(8))
    with pytest.raises(TemplateProblem, match=r"^template exceeds a limit: more than 10 loop"):
        render_native("{{ l|map('abs')|list }}", {"l": list(range(9))})


# --- what is a template, and trees --------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "template"),
    [
        ("{{ a }}", True),
        ("{% if a %}{% endif %}", True),
        ("${#var}", False),
        ("{ {", False),
        ("a}}", False),
        (3, False),
    ],
)
def test_a_value_is_a_template_when_it_has_jinja_markup(value: object, template: bool) -> None:
    assert is_template(value) is template


def test_a_value_without_markup_is_its_own_literal() -> None:
    assert literal("a { b } ${#x}") == "a { b } ${#x}"
    assert literal("{{ x }}") == "{{ '{' }}{{ '{' }} x }}"


def test_a_tree_renders_everywhere_but_under_the_skipped_keys() -> None:
    tree = {"a": "{{ n }}", "when": "{{ n }}", "l": ["{{ n }}", {"b": "{{ n }}"}], "k": 5}
    assert render_tree(tree, {"n": 1}, frozenset({"when"})) == {
        "a": "1",
        "when": "{{ n }}",
        "l": ["1", {"b": "1"}],
        "k": 5,
    }


def test_a_problem_in_a_tree_says_where_below_the_value() -> None:
    with pytest.raises(TemplateProblem) as problem:
        render_tree({"l": ["x", {"b": "{{ nope }}"}]}, {}, frozenset())
    assert problem.value.path == ("l", 1, "b")
    assert str(problem.value) == "'nope' is undefined in '{{ nope }}'"


# --- variables ----------------------------------------------------------------------------------


def test_a_variable_that_does_not_parse_is_named_with_its_place() -> None:
    with pytest.raises(TemplateProblem) as problem:
        resolve_variables([{"v": {"k": ["{{ 1 + }}"]}, "w": "{{ v }}"}])
    assert problem.value.path == ("v",)
    assert (
        str(problem.value) == "variable 'v': cannot render '{{ 1 + }}': unexpected 'end of print statement'"
    )


def test_variables_in_nested_values_are_found_and_rendered_first() -> None:
    variables = resolve_variables([{"a": {"k": ["{{ b }}"]}, "b": "{{ c }}-x", "c": 1}, {"c": 2}])
    assert variables == {"a": {"k": ["2-x"]}, "b": "2-x", "c": 2}


def test_an_undefined_variable_in_a_variable_is_named_with_its_place() -> None:
    with pytest.raises(TemplateProblem) as problem:
        resolve_variables([{"v": ["ok", "{{ nope }}"]}])
    assert problem.value.path == ("v", 1)
    assert str(problem.value) == "variable 'v': 'nope' is undefined in '{{ nope }}'"


@given(st.integers(min_value=0, max_value=MAX_LENGTH), st.integers(min_value=1, max_value=3))
def test_any_repetition_renders_exactly_when_its_length_is_within_the_bound(count: int, width: int) -> None:
    text = "a" * width
    if width * count <= MAX_LENGTH:
        assert len(render_string("{{ s * n }}", {"s": text, "n": count})) == width * count
    else:
        assert refusal("{{ s * n }}", {"s": text, "n": count}) == REASONS["repetition"]


def test_a_limit_error_without_words_is_named_by_its_kind() -> None:
    # MemoryError and some OverflowErrors carry no message; no template makes one on demand
    problem = render._problem(MemoryError(), "'t'")
    assert str(problem) == "template exceeds a limit: MemoryError in 't'"
