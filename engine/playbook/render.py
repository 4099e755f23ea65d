"""Ansible-style variables: ``{{ }}`` templates rendered with Jinja2, undefined names are errors.

Templates come from files a user may have downloaded (playbooks, inventories, `-e` files,
playbooks generated from compose files), and `validate`, `graph`, `check` and `--dry-run`
render them, so rendering must never run code, read files or exhaust the machine:

- Jinja2's immutable sandbox: no ``__globals__``/``__class__`` walks, no mutation of data;
- no loader: ``include``, ``import`` and ``extends`` are refused when the template is parsed;
- bounded computation: at most `MAX_STEPS` loop iterations and calls per rendering, no
  string, list or output longer than `MAX_LENGTH`, no integer wider than `MAX_INT_BITS`,
  `MAX_SECONDS` at most; exceeding a bound is a TemplateProblem, never a hang.

Any exception a rendering raises becomes a TemplateProblem: callers report it with the
file, line and field (or as the node's `error` at run time), never as a traceback.
"""

from __future__ import annotations

import re
import string
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextvars import ContextVar
from functools import lru_cache, wraps
from typing import TYPE_CHECKING, Any

from engine.errors import TemplateLimit, TemplateProblem

if TYPE_CHECKING:
    import jinja2
    from jinja2 import nodes
    from jinja2.runtime import Context

MAX_STEPS = 100_000
"""Loop iterations plus calls (functions, methods, macros, filters) in one rendering."""
MAX_LENGTH = 1_000_000
"""Characters of any string (and of the output), items of any list a template computes."""
MAX_INT_BITS = 100_000
MAX_SECONDS = 5.0
"""Wall-clock bound of one rendering: the backstop for work the counts above do not see."""


class _Budget:
    """What one rendering has spent; kept in a context variable so threads don't share it."""

    def __init__(self) -> None:
        self.steps = 0
        self.deadline = time.monotonic() + MAX_SECONDS

    def spend(self) -> None:
        self.steps += 1
        if self.steps > MAX_STEPS:
            raise TemplateLimit(f"more than {MAX_STEPS} loop iterations and calls")
        if time.monotonic() > self.deadline:
            raise TemplateLimit(f"took longer than {MAX_SECONDS:g}s")


_BUDGET: ContextVar[_Budget | None] = ContextVar("template_budget", default=None)


def _spend() -> None:
    budget = _BUDGET.get()
    if budget is not None:
        budget.spend()


def _sized(value: Any) -> Any:
    """`value`, after checking it is within the bounds."""
    if isinstance(value, str | bytes | list | tuple | dict | set | frozenset) and len(value) > MAX_LENGTH:
        raise TemplateLimit(f"a value longer than {MAX_LENGTH} characters or items")
    if isinstance(value, int) and value.bit_length() > MAX_INT_BITS:
        raise TemplateLimit(f"an integer wider than {MAX_INT_BITS} bits")
    return value


def _at_most(length: int, what: str) -> None:
    if length > MAX_LENGTH:
        raise TemplateLimit(f"{what} would be longer than {MAX_LENGTH} characters or items")


def _length(value: Any) -> int:
    try:
        return len(value)
    except TypeError:
        return 0


def _check_binop(operator: str, left: Any, right: Any) -> None:
    """Refuse an operation whose result would exceed a bound, before computing it."""
    if operator == "*":
        for sequence, count in ((left, right), (right, left)):
            if isinstance(sequence, str | bytes | list | tuple) and isinstance(count, int):
                _at_most(len(sequence) * max(count, 0), "a repetition")
        if (
            isinstance(left, int)
            and isinstance(right, int)
            and left.bit_length() + right.bit_length() > MAX_INT_BITS
        ):
            raise TemplateLimit(f"a product wider than {MAX_INT_BITS} bits")
    elif operator == "**":
        if (
            isinstance(left, int)
            and isinstance(right, int)
            and right > 0
            and max(left.bit_length() - 1, 0) * right > MAX_INT_BITS
        ):
            raise TemplateLimit(f"a power wider than {MAX_INT_BITS} bits")
    elif operator == "+":
        _at_most(_length(left) + _length(right), "a sum")
    elif operator == "%" and isinstance(left, str):
        _check_percent_format(left, right)


_PERCENT_SPEC = re.compile(r"%(?:\([^)]*\))?[#0\- +]*(\*|\d+)?(?:\.(\*|\d+))?")


def _check_percent_format(template: str, arguments: Any) -> None:
    """Widths and precisions of a ``'%10s' % x`` format; ``*`` takes them from the arguments."""
    values = arguments if isinstance(arguments, tuple) else (arguments,)
    for match in _PERCENT_SPEC.finditer(template):
        for part in match.groups():
            if part == "*":
                if any(isinstance(v, int) and v > MAX_LENGTH for v in values):
                    raise TemplateLimit(f"a format width over {MAX_LENGTH}")
            elif part is not None and int(part) > MAX_LENGTH:
                raise TemplateLimit(f"a format width over {MAX_LENGTH}")


def _check_brace_format(template: str, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> None:
    """Widths and precisions of a ``'{:>10}'.format(x)``; nested ``{:{w}}`` take them from
    the arguments."""
    try:
        fields = list(string.Formatter().parse(template))
    except ValueError:
        return  # str.format raises the same error, with its own message
    for _, _, spec, _ in fields:
        if not spec:
            continue
        if "{" in spec:
            values = [*args, *kwargs.values()]
            if any(isinstance(v, int) and v > MAX_LENGTH for v in values):
                raise TemplateLimit(f"a format width over {MAX_LENGTH}")
        if any(int(number) > MAX_LENGTH for number in re.findall(r"\d+", spec)):
            raise TemplateLimit(f"a format width over {MAX_LENGTH}")


def _joined_length(separator: str, items: list[Any]) -> int:
    return sum(len(x) if isinstance(x, str) else len(str(x)) for x in items) + len(separator) * max(
        len(items) - 1, 0
    )


def _replaced_length(text: str, old: str, new: str, count: int = -1) -> int:
    occurrences = text.count(old) if old else len(text) + 1
    if count is not None and count >= 0:
        occurrences = min(occurrences, count)
    return len(text) + occurrences * max(len(new) - len(old), 0)


_WIDTH_METHODS = frozenset({"center", "ljust", "rjust", "zfill"})


def _checked_call(function: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, ...]:
    """The arguments to call `function` with, after refusing calls whose result would
    exceed a bound (str methods that pad, expand or join); a generator given to ``join``
    is read once, here, so that its length can be known."""
    # The sandbox hands out str.format wrapped in a function of its own (`__wrapped__`).
    method = getattr(function, "__wrapped__", function)
    owner = getattr(method, "__self__", None)
    if not isinstance(owner, str):
        return args
    name = getattr(method, "__name__", "")
    if name == "format":
        _check_brace_format(owner, args, kwargs)
    elif name == "format_map" and args and isinstance(args[0], Mapping):
        _check_brace_format(owner, (), args[0])
    elif name in _WIDTH_METHODS:
        width = args[0] if args else kwargs.get("width", 0)
        if isinstance(width, int):
            _at_most(width, f"str.{name}")
    elif name == "expandtabs":
        size = args[0] if args else kwargs.get("tabsize", 8)
        if isinstance(size, int):
            _at_most(len(owner) + owner.count("\t") * size, "str.expandtabs")
    elif name == "replace" and len(args) >= 2 and isinstance(args[0], str) and isinstance(args[1], str):
        count = args[2] if len(args) > 2 and isinstance(args[2], int) else kwargs.get("count", -1)
        _at_most(_replaced_length(owner, args[0], args[1], count), "str.replace")
    elif name == "join" and args:
        items = list(args[0])
        _at_most(_joined_length(owner, items), "str.join")
        return (items, *args[1:])
    return args


def _bounded_filter(name: str, function: Callable[..., Any]) -> Callable[..., Any]:
    """A built-in filter that counts as a step and refuses results beyond the bounds."""

    @wraps(function)
    def bounded(*args: Any, **kwargs: Any) -> Any:
        _spend()
        args = _check_filter(name, args, kwargs)
        return _sized(function(*args, **kwargs))

    return bounded


_WIDTH_FILTERS = frozenset({"center", "indent", "batch", "slice"})


def _check_filter(name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, ...]:
    """Like `_checked_call`, for filters. Filters that take the eval context or environment
    get it first: the filtered value is the first argument that is not one of those."""
    from jinja2 import Environment
    from jinja2.nodes import EvalContext

    start = next((i for i, a in enumerate(args) if not isinstance(a, Environment | EvalContext)), len(args))
    value, rest = (args[start], args[start + 1 :]) if start < len(args) else (None, ())
    if name in _WIDTH_FILTERS:
        for width in (*rest, *kwargs.values()):
            if isinstance(width, int) and not isinstance(width, bool):
                _at_most(width * max(str(value).count("\n") + 1, 1) if name == "indent" else width, name)
    elif name == "format" and isinstance(value, str):
        _check_percent_format(value, tuple(rest) or tuple(kwargs.values()))
    elif name == "replace" and len(rest) >= 2 and isinstance(rest[0], str) and isinstance(rest[1], str):
        count = rest[2] if len(rest) > 2 and isinstance(rest[2], int) else kwargs.get("count") or -1
        _at_most(_replaced_length(str(value), rest[0], rest[1], count), "replace")
    elif name == "join" and value is not None and not isinstance(value, str):
        items = list(value)
        separator = rest[0] if rest and isinstance(rest[0], str) else str(kwargs.get("d", ""))
        _at_most(_joined_length(separator, items), "join")
        return (*args[:start], items, *rest)
    return args


def _counted(iterable: Iterable[Any]) -> Iterator[Any]:
    """A ``for`` loop's iterable: each iteration counts as a step."""
    for item in iterable:
        _spend()
        yield item


def _concatenated(parts: list[Any]) -> str:
    """The ``~`` operator, bounded."""
    texts = [str(part) for part in parts]
    _at_most(sum(map(len, texts)), "a concatenation")
    return "".join(texts)


_COUNTED_FILTER = "_remediate_counted"
_CONCAT_FILTER = "_remediate_concat"


def _bounding_transformer() -> Any:
    from jinja2 import nodes
    from jinja2.visitor import NodeTransformer

    class Bounding(NodeTransformer):
        """Rewrites a parsed template so loops and ``~`` go through the bounded helpers."""

        def visit_For(self, node: nodes.For) -> nodes.For:
            self.generic_visit(node)
            node.iter = nodes.Filter(node.iter, _COUNTED_FILTER, [], [], None, None, lineno=node.lineno)
            return node

        def visit_Concat(self, node: nodes.Concat) -> nodes.Filter:
            self.generic_visit(node)
            parts = nodes.List(node.nodes, lineno=node.lineno)
            return nodes.Filter(parts, _CONCAT_FILTER, [], [], None, None, lineno=node.lineno)

    return Bounding()


def _dunder(node: nodes.Node) -> str | None:
    """The ``__name__`` a node reads by its written name: ``x.__a__``, ``x['__a__']`` or
    ``x|attr('__a__')``; None for anything else."""
    from jinja2 import nodes

    if isinstance(node, nodes.Getattr):
        written: Any = node.attr
    elif isinstance(node, nodes.Getitem):
        written = node.arg.value if isinstance(node.arg, nodes.Const) else None
    elif isinstance(node, nodes.Filter) and node.name == "attr" and node.args:
        written = node.args[0].value if isinstance(node.args[0], nodes.Const) else None
    else:
        return None
    return written if isinstance(written, str) and written.startswith("__") else None


@lru_cache(maxsize=1)
def _environment() -> jinja2.Environment:
    # Imported here: a playbook without templates never pays for Jinja2.
    import jinja2
    from jinja2 import nodes
    from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError

    class BoundedSandbox(ImmutableSandboxedEnvironment):
        """The immutable sandbox, without a loader, with every call, loop iteration and
        size-changing operator counted and bounded."""

        intercepted_binops = frozenset({"*", "**", "+", "%"})

        def _generate(
            self, source: nodes.Template, name: str | None, filename: str | None, defer_init: bool = False
        ) -> str:
            # Every template and `when:` expression passes here between parsing and code
            # generation (compile_expression does not go through _parse).
            tree = source
            for node in tree.find_all((nodes.Include, nodes.Import, nodes.FromImport, nodes.Extends)):
                kind = type(node).__name__
                keyword = "from ... import" if kind == "FromImport" else kind.lower()
                raise jinja2.TemplateSyntaxError(
                    f"{keyword} is not allowed: a template cannot read other templates or files",
                    node.lineno,
                    name,
                    filename,
                )
            # The sandbox would refuse these when evaluated; refusing them when compiled makes
            # a `when:` (evaluated only at run time) an error at validate time too.
            for access in tree.find_all((nodes.Getattr, nodes.Getitem, nodes.Filter)):
                attribute = _dunder(access)
                if attribute is not None:
                    raise jinja2.TemplateSyntaxError(
                        f"access to {attribute!r} is not allowed", access.lineno, name, filename
                    )
            tree = _bounding_transformer().visit(tree)
            tree.set_environment(self)
            return super()._generate(tree, name, filename, defer_init)

        def unsafe_undefined(self, obj: Any, attribute: str) -> jinja2.Undefined:
            # The sandbox returns an undefined value that a chain of attribute reads hides
            # behind "has no attribute"; saying why at once makes the error clear.
            kind = type(obj).__name__
            raise SecurityError(f"access to attribute {attribute!r} of {kind!r} object is unsafe")

        def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
            _spend()
            _check_binop(operator, left, right)
            return _sized(super().call_binop(context, operator, left, right))

        def call(__self, __context: Context, __obj: Any, *args: Any, **kwargs: Any) -> Any:
            _spend()
            args = _checked_call(__obj, args, kwargs)
            return _sized(super().call(__context, __obj, *args, **kwargs))

    environment = BoundedSandbox(undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
    # lipsum generates text on demand (a size the template chooses) and is of no use here.
    environment.globals.pop("lipsum", None)
    environment.filters = {name: _bounded_filter(name, f) for name, f in environment.filters.items()}
    environment.filters[_COUNTED_FILTER] = _counted
    environment.filters[_CONCAT_FILTER] = _concatenated
    return environment


def _shown(template: str) -> str:
    """The template for a message: whole when short, its start otherwise."""
    return repr(template) if len(template) <= 200 else repr(template[:200]) + "..."


def _problem(exc: Exception, what: str, verb: str = "render") -> TemplateProblem:
    """A TemplateProblem saying why rendering (or evaluating) `what` failed, whatever was
    raised."""
    import jinja2
    from jinja2.sandbox import SecurityError

    if isinstance(exc, jinja2.UndefinedError):
        return TemplateProblem(f"{exc.message} in {what}")
    if isinstance(exc, jinja2.TemplateSyntaxError):
        line = f" (template line {exc.lineno})" if exc.lineno > 1 else ""
        return TemplateProblem(f"cannot {verb} {what}: {exc.message}{line}")
    if isinstance(exc, SecurityError):
        return TemplateProblem(f"not allowed in a template: {exc} in {what}")
    if isinstance(exc, TemplateLimit | OverflowError | RecursionError | MemoryError):
        reason = str(exc) or type(exc).__name__
        if isinstance(exc, RecursionError):
            reason = "calls itself too deeply"
        return TemplateProblem(f"template exceeds a limit: {reason} in {what}")
    if isinstance(exc, jinja2.TemplateError):
        return TemplateProblem(f"cannot {verb} {what}: {exc}")
    return TemplateProblem(f"cannot {verb} {what}: {type(exc).__name__}: {exc}")


def is_template(value: Any) -> bool:
    """True for a string rendered as a template: one with ``{{`` or ``{%`` in it (a lone
    ``{#``, as in a shell's ``${#var}``, is left alone)."""
    return isinstance(value, str) and ("{{" in value or "{%" in value)


def literal(text: str) -> str:
    """`text` written so that rendering it gives `text` back, whatever it holds: every
    ``{`` becomes the expression ``{{ '{' }}``. For data copied from elsewhere (a compose
    file) into a playbook, so that it can never become a template."""
    if not is_template(text):
        return text
    return text.replace("{", "{{ '{' }}")


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
    token = _BUDGET.set(_Budget())
    try:
        chunks: list[str] = []
        length = 0
        for chunk in _environment().from_string(template).generate(variables):
            length += len(chunk)
            _at_most(length, "the output")
            chunks.append(chunk)
        return "".join(chunks)
    except Exception as exc:  # every failure of a user's template is a TemplateProblem
        raise _problem(exc, _shown(template)) from None
    finally:
        _BUDGET.reset(token)


def evaluate(expression: str, variables: Mapping[str, Any]) -> bool:
    """The truth of a bare Jinja expression, as Ansible's ``when:`` evaluates it."""
    token = _BUDGET.set(_Budget())
    try:
        return bool(_environment().compile_expression(expression)(**variables))
    except Exception as exc:  # every failure of a user's expression is a TemplateProblem
        raise _problem(exc, f"when: {_shown(expression)}", "evaluate") from None
    finally:
        _BUDGET.reset(token)


def render_native(template: str, variables: Mapping[str, Any]) -> Any:
    """The value of a template that is one ``{{ expression }}`` as the expression's own type
    (a list stays a list, as Ansible renders ``loop: "{{ services }}"``); any other template
    renders to a string."""
    import jinja2

    inner = template.strip()
    if not (inner.startswith("{{") and inner.endswith("}}")) or inner.count("{{") != 1:
        return render_string(template, variables)
    expression = inner[2:-2]
    token = _BUDGET.set(_Budget())
    try:
        value = _environment().compile_expression(expression, undefined_to_none=False)(**variables)
        if isinstance(value, jinja2.Undefined):
            value._fail_with_undefined_error()  # a bare undefined name is not an error by itself
        return _sized(value)
    except Exception as exc:  # every failure of a user's template is a TemplateProblem
        raise _problem(exc, _shown(template)) from None
    finally:
        _BUDGET.reset(token)


def check_expression(expression: str) -> None:
    """Raise TemplateProblem when a ``when:`` expression does not parse."""
    import jinja2

    token = _BUDGET.set(_Budget())
    try:
        _environment().compile_expression(expression)
    except jinja2.TemplateSyntaxError as exc:
        raise TemplateProblem(f"invalid expression {expression!r}: {exc.message}") from None
    finally:
        _BUDGET.reset(token)


def render_tree(value: Any, variables: Mapping[str, Any], skip_keys: frozenset[str]) -> Any:
    """A copy of nested data with every template string rendered; mapping entries under
    `skip_keys` (``when``: expressions evaluated later) are kept as written. A
    TemplateProblem's `path` says where below `value` the failing template was."""
    if is_template(value):
        return render_string(value, variables)
    if isinstance(value, dict):
        rendered = {}
        for key, item in value.items():
            rendered[key] = item if key in skip_keys else _below(key, item, variables, skip_keys)
        return rendered
    if isinstance(value, list):
        return [_below(index, item, variables, skip_keys) for index, item in enumerate(value)]
    return value


def _below(key: str | int, value: Any, variables: Mapping[str, Any], skip_keys: frozenset[str]) -> Any:
    try:
        return render_tree(value, variables, skip_keys)
    except TemplateProblem as exc:
        raise TemplateProblem(str(exc), (key, *exc.path)) from None


def resolve_variables(layers: list[Mapping[str, Any]]) -> dict[str, Any]:
    """Merge variable layers (lowest precedence first) and render variables that refer to
    other variables, each after the ones it refers to, as Ansible does lazily. Each value is
    rendered once: what a template produces is data, never rendered again (so a literal
    ``{{ '{' }}{{ '{' }}`` stays two braces). Raises TemplateProblem naming the variable, whose
    `path` starts with the variable's name.

    Every layer meets here (inventory group and host vars, playbook vars, extra vars), so
    this is where secret-named variables' values are registered with the redactor: before
    rendering (a problem below must not echo them) and after (a secret built from other
    variables is masked too)."""
    from engine.secrets.redact import REDACTOR

    merged: dict[str, Any] = {}
    for layer in layers:
        merged.update(layer)
    REDACTOR.add_secrets_in(merged)
    try:
        return _render_variables(merged)
    finally:
        REDACTOR.add_secrets_in(merged)


def _render_variables(merged: dict[str, Any]) -> dict[str, Any]:
    pending = {k for k, v in merged.items() if _has_template(v)}
    needs: dict[str, set[str]] = {}
    for key in pending:
        try:
            needs[key] = _references(merged[key]) & pending
        except TemplateProblem as exc:
            raise TemplateProblem(f"variable {key!r}: {exc}", (key, *exc.path)) from None
    while pending:
        ready = sorted(k for k in pending if not needs[k] & pending)
        if not ready:
            raise TemplateProblem(f"variables refer to each other in a loop: {', '.join(sorted(pending))}")
        for key in ready:
            try:
                merged[key] = render_tree(merged[key], merged, frozenset())
            except TemplateProblem as exc:
                raise TemplateProblem(f"variable {key!r}: {exc}", (key, *exc.path)) from None
        pending.difference_update(ready)
    return merged


def _references(value: Any) -> set[str]:
    """The variable names the templates in `value` use."""
    from jinja2 import meta

    if isinstance(value, dict):
        return set().union(*(_references(v) for v in value.values()))
    if isinstance(value, list):
        return set().union(*(_references(v) for v in value))
    if not is_template(value):
        return set()
    try:
        return meta.find_undeclared_variables(_environment().parse(value))
    except Exception as exc:  # a syntax error, reported as rendering would report it
        raise _problem(exc, _shown(value)) from None


def _has_template(value: Any) -> bool:
    if isinstance(value, dict):
        return any(_has_template(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_template(v) for v in value)
    return is_template(value)
