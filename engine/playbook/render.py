"""Ansible-style variables: ``{{ }}`` templates rendered with Jinja2, undefined names are errors."""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import lru_cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import jinja2

MAX_NESTING = 10


class TemplateProblem(ValueError):
    """A template that cannot be rendered: undefined variable, syntax error, loop."""


def is_template(value: Any) -> bool:
    return isinstance(value, str) and ("{{" in value or "{%" in value)


@lru_cache(maxsize=1)
def _environment() -> jinja2.Environment:
    # Imported here: a playbook without templates never pays for Jinja2.
    import jinja2

    return jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True)


# ``{{ name }}``: a placeholder that only looks a variable up. Most playbook templates are
# made of these alone, and they render without importing and compiling Jinja2 (a good part
# of `remediate validate`). Jinja's literals and keywords are not variable names.
_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
_NOT_NAMES = frozenset(
    {"true", "false", "none", "True", "False", "None", "and", "or", "not", "in", "is", "if", "else"}
)


def _substituted(template: str, variables: Mapping[str, Any]) -> str | None:
    """`template` rendered as Jinja2 renders it when its only markup is ``{{ name }}``
    placeholders; None when it has any other markup (Jinja2 renders it then)."""
    matches = list(_PLACEHOLDER.finditer(template))
    names = [match.group(1) for match in matches]
    rest = _PLACEHOLDER.sub("", template)
    if (
        not names
        or any(mark in rest for mark in ("{{", "{%", "{#"))
        or _NOT_NAMES.intersection(names)
        # `{{{ a }}`: Jinja's markup starts at the first brace pair, not at this one
        or any(template[match.start() - 1 : match.start()] == "{" for match in matches)
    ):
        return None
    for name in names:
        if name not in variables:
            raise TemplateProblem(f"'{name}' is undefined in {template!r}")
    return _PLACEHOLDER.sub(lambda match: str(variables[match.group(1)]), template)


def render_string(template: str, variables: Mapping[str, Any]) -> str:
    """Render one template string; raises TemplateProblem with a readable reason."""
    substituted = _substituted(template, variables)
    if substituted is not None:
        return substituted
    import jinja2

    try:
        return _environment().from_string(template).render(variables)
    except jinja2.UndefinedError as exc:
        raise TemplateProblem(f"{exc.message} in {template!r}") from None
    except jinja2.TemplateError as exc:
        raise TemplateProblem(f"cannot render {template!r}: {exc}") from None


def evaluate(expression: str, variables: Mapping[str, Any]) -> bool:
    """The truth of a bare Jinja expression, as Ansible's ``when:`` evaluates it."""
    import jinja2

    try:
        return bool(_environment().compile_expression(expression)(**variables))
    except jinja2.UndefinedError as exc:
        raise TemplateProblem(f"{exc.message} in when: {expression!r}") from None
    except jinja2.TemplateError as exc:
        raise TemplateProblem(f"cannot evaluate {expression!r}: {exc}") from None


def render_native(template: str, variables: Mapping[str, Any]) -> Any:
    """The value of a template that is one ``{{ expression }}`` as the expression's own type
    (a list stays a list, as Ansible renders ``loop: "{{ services }}"``); any other template
    renders to a string."""
    import jinja2

    inner = template.strip()
    if not (inner.startswith("{{") and inner.endswith("}}")) or inner.count("{{") != 1:
        return render_string(template, variables)
    expression = inner[2:-2]
    try:
        value = _environment().compile_expression(expression, undefined_to_none=False)(**variables)
        if isinstance(value, jinja2.Undefined):
            value._fail_with_undefined_error()  # a bare undefined name is not an error by itself
        return value
    except jinja2.UndefinedError as exc:
        raise TemplateProblem(f"{exc.message} in {template!r}") from None
    except jinja2.TemplateError as exc:
        raise TemplateProblem(f"cannot render {template!r}: {exc}") from None


def check_expression(expression: str) -> None:
    """Raise TemplateProblem when a ``when:`` expression does not parse."""
    import jinja2

    try:
        _environment().compile_expression(expression)
    except jinja2.TemplateSyntaxError as exc:
        raise TemplateProblem(f"invalid expression {expression!r}: {exc.message}") from None


def render_tree(value: Any, variables: Mapping[str, Any], skip_keys: frozenset[str]) -> Any:
    """A copy of nested data with every template string rendered; mapping entries under
    `skip_keys` (``when``: expressions evaluated later) are kept as written."""
    if is_template(value):
        return render_string(value, variables)
    if isinstance(value, dict):
        return {k: v if k in skip_keys else render_tree(v, variables, skip_keys) for k, v in value.items()}
    if isinstance(value, list):
        return [render_tree(v, variables, skip_keys) for v in value]
    return value


def resolve_variables(layers: list[Mapping[str, Any]]) -> dict[str, Any]:
    """Merge variable layers (lowest precedence first) and render variables that refer to
    other variables, as Ansible does lazily. Raises TemplateProblem naming the variable."""
    merged: dict[str, Any] = {}
    for layer in layers:
        merged.update(layer)
    pending = {k for k, v in merged.items() if _has_template(v)}
    for _ in range(MAX_NESTING):
        if not pending:
            return merged
        progress = False
        for key in sorted(pending):
            try:
                rendered = render_tree(merged[key], merged, frozenset())
            except TemplateProblem as exc:
                last_error = TemplateProblem(f"variable {key!r}: {exc}")
                continue
            merged[key] = rendered
            progress = True
        pending = {k for k in pending if _has_template(merged[k])}
        if not progress:
            raise last_error
    raise TemplateProblem(f"variables refer to each other in a loop: {', '.join(sorted(pending))}")


def _has_template(value: Any) -> bool:
    if isinstance(value, dict):
        return any(_has_template(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_template(v) for v in value)
    return is_template(value)
