"""Templates made only of ``{{ name }}`` placeholders render without Jinja2, exactly as
Jinja2 renders them (engine.playbook.render)."""

from __future__ import annotations

from typing import Any

import jinja2
import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.errors import TemplateProblem
from engine.playbook import render
from engine.playbook.render import render_string

NAMES = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,6}", fullmatch=True)
VALUES = st.one_of(
    st.text(max_size=8),
    st.integers(),
    st.floats(allow_nan=False),
    st.booleans(),
    st.none(),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)
# Literal text between placeholders: braces, percent and hash included, so that text that
# only looks like other markup is covered too.
TEXT = st.text(alphabet=st.sampled_from("ab /:{}%#-\n"), max_size=6)


def jinja(template: str, variables: dict[str, Any]) -> str:
    environment = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
    return environment.from_string(template).render(variables)


@given(
    parts=st.lists(st.tuples(TEXT, NAMES, st.sampled_from(["", " ", "  "])), min_size=1, max_size=4),
    tail=TEXT,
    values=st.lists(VALUES, min_size=4, max_size=4),
)
def test_a_template_renders_as_jinja_renders_it(
    parts: list[tuple[str, str, str]], tail: str, values: list[Any]
) -> None:
    template = "".join(f"{text}{{{{{pad}{name}{pad}}}}}" for text, name, pad in parts) + tail
    variables = {name: values[index % len(values)] for index, (_, name, _) in enumerate(parts)}
    try:
        expected: str | type[Exception] = jinja(template, variables)
    except jinja2.TemplateError:
        expected = TemplateProblem
    if expected is TemplateProblem:
        with pytest.raises(TemplateProblem):
            render_string(template, variables)
    else:
        assert render_string(template, variables) == expected


def test_an_undefined_placeholder_is_named() -> None:
    with pytest.raises(TemplateProblem, match=r"'port' is undefined in 'http://h:\{\{ port \}\}/'"):
        render_string("http://h:{{ port }}/", {})


def test_jinja_literals_are_not_variables() -> None:
    assert render_string("{{ true }}-{{ none }}", {"true": "x", "none": "y"}) == "True-None"


def test_a_placeholder_does_not_import_jinja() -> None:
    import subprocess
    import sys

    code = (
        "import sys\nfrom engine.playbook.render import render_string\n"
        "assert render_string('{{ a }}:{{b}}', {'a': 1, 'b': 'x'}) == '1:x'\n"
        "assert 'jinja2' not in sys.modules\n"
    )
    assert subprocess.run([sys.executable, "-c", code], capture_output=True).returncode == 0


def test_a_placeholder_renders_without_compiling_a_template(monkeypatch: pytest.MonkeyPatch) -> None:
    # In-process twin of the test above, which mutmut cannot tie to the code it runs.
    def no_jinja() -> None:
        raise AssertionError("Jinja2 used for placeholders alone")

    monkeypatch.setattr(render, "_environment", no_jinja)
    assert render_string("{{ a }}:{{b}} {", {"a": 1, "b": "x"}) == "1:x {"


@pytest.mark.parametrize(
    ("template", "rendered"),
    [
        ("{{ a }}-{{ 'x' }}", "1-x"),
        ("{{ a }}{# a comment #}", "1"),
        ("{{ a }}{% if true %}!{% endif %}", "1!"),
        ("{ {{ a }}", "{ 1"),
    ],
)
def test_a_template_with_markup_besides_placeholders_renders_as_jinja_renders_it(
    template: str, rendered: str
) -> None:
    assert render_string(template, {"a": 1}) == rendered == jinja(template, {"a": 1})


def test_a_placeholder_right_after_a_brace_is_jinja_markup_that_does_not_parse() -> None:
    with pytest.raises(TemplateProblem, match="cannot render"):
        render_string("{{{ a }}", {"a": 1})
