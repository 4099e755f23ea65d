"""Reading a playbook file: YAML with positions, variables rendered, every field validated.

Errors are collected, not raised at the first one, and each names the file, line,
column and field path; nothing runs when there is any.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path as FilePath
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from engine.core.registry import ACTION_TYPES, CHECK_TYPES
from engine.errors import PlaybookError, TemplateProblem
from engine.playbook.errors import MISSING, Path, Problem, describe_validation_error, dotted, unknown_message
from engine.playbook.models import (
    DEFAULT_LOOP_VAR,
    LOOP_FIELDS,
    NODE_FIELDS,
    STEP_FIELDS,
    NodeSpec,
    Playbook,
    StepSpec,
)
from engine.playbook.render import (
    check_expression,
    is_template,
    render_native,
    render_string,
    render_tree,
    resolve_variables,
)

M = TypeVar("M", bound=BaseModel)

TOP_LEVEL_FIELDS = (
    "name", "hosts", "vars", "defaults", "checks", "run_limits", "maintenance", "notify", "alembic_node",
    "alerts", "approvals",
)  # fmt: skip
UNRENDERED = frozenset({"when"})


@dataclass
class PlaybookSource:
    """A parsed playbook file: plain data plus the line/column of every key and value."""

    file: str
    data: dict[str, Any]
    positions: dict[Path, tuple[int, int]] = field(default_factory=dict)

    value_positions: dict[Path, tuple[int, int]] = field(default_factory=dict)

    def problem(self, path: Path, message: str) -> Problem:
        """A problem located at the value at `path`, its key, or its nearest located parent."""
        if path in self.value_positions and not message.startswith("unknown "):
            line, column = self.value_positions[path]
            return Problem(self.file, line, column, path, message)
        for end in range(len(path), -1, -1):
            position = self.positions.get(path[:end])
            if position:
                return Problem(self.file, position[0], position[1], path, message)
        # A missing top-level field: the document itself is where it belongs.
        return Problem(self.file, 1, 1, path, message)


def read_playbook(file: str | FilePath) -> PlaybookSource:
    """Parse a playbook file; YAML syntax errors become a PlaybookError with the position."""
    from ruamel.yaml.error import MarkedYAMLError, YAMLError

    from engine.errors import InputLimitError
    from engine.input_limits import load_yaml, read_text

    name = str(file)
    try:
        document = load_yaml(read_text(file, name), name)
    except InputLimitError as exc:
        raise PlaybookError([Problem(name, exc.line, 1 if exc.line else 0, (), exc.message)]) from None
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (0, 0)
        reason = exc.problem or exc.context or "invalid YAML"
        raise PlaybookError([Problem(name, line, column, (), f"invalid YAML: {reason}")]) from None
    except YAMLError as exc:
        raise PlaybookError([Problem(name, 0, 0, (), f"invalid YAML: {exc}")]) from None
    if not isinstance(document, dict):
        raise PlaybookError([Problem(name, 1, 1, (), "expected a mapping with name and checks")])
    source = PlaybookSource(name, {})
    source.data = _plain(document, (), source)
    return source


def _plain(node: Any, path: Path, source: PlaybookSource) -> Any:
    """ruamel's commented containers as plain dicts/lists, recording 1-based positions."""
    if isinstance(node, dict):
        result = {}
        for key, value in node.items():
            child = (*path, str(key))
            try:
                line, column = node.lc.key(key)  # type: ignore[attr-defined]
                source.positions[child] = (line + 1, column + 1)
                if not isinstance(value, dict | list):
                    line, column = node.lc.value(key)  # type: ignore[attr-defined]
                    source.value_positions[child] = (line + 1, column + 1)
            except (AttributeError, KeyError, TypeError):
                pass
            result[str(key)] = _plain(value, child, source)
        return result
    if isinstance(node, list):
        items = []
        for index, value in enumerate(node):
            child = (*path, index)
            try:
                line, column = node.lc.item(index)  # type: ignore[attr-defined]
                source.positions[child] = (line + 1, column + 1)
            except (AttributeError, KeyError, TypeError):
                pass
            items.append(_plain(value, child, source))
        return items
    # ruamel's scalars (ScalarFloat for 1.5, ScalarInt for 0x10) as the plain types, which
    # messages name ("a number", not "ScalarFloat")
    for plain in (str, bool, int, float):
        if isinstance(node, plain):
            return plain(node)
    return node


def load_playbook(
    file: str | FilePath,
    hostvars: Mapping[str, Any] | None = None,
    extra_vars: Mapping[str, Any] | None = None,
) -> Playbook:
    """Read, render and validate a playbook for one host's variables."""
    return build_playbook(read_playbook(file), hostvars or {}, extra_vars or {})


NodeCache = dict[tuple[str, ...], NodeSpec]
"""Nodes validated for one host, by what they rendered to (`build_playbook`'s `seen`)."""


def build_playbook(
    source: PlaybookSource,
    hostvars: Mapping[str, Any],
    extra_vars: Mapping[str, Any],
    seen: NodeCache | None = None,
) -> Playbook:
    """Render a parsed playbook with variables (inventory < playbook vars < extra vars, as in
    Ansible) and validate it into a Playbook. Raises PlaybookError with every problem.
    `seen`, shared by the hosts of one plan: a node that renders for this host as it did for
    another is that host's node (the same frozen object), not validated again: most nodes
    render alike on every host, and a fleet's plan holds one of each instead of one a host."""
    builder = _Builder(source, {} if seen is None else seen)
    return builder.build(hostvars, extra_vars)


class _Builder:
    def __init__(self, source: PlaybookSource, seen: NodeCache) -> None:
        self.source = source
        self.seen = seen
        self.problems: list[Problem] = []
        self.defaults: dict[str, dict[str, Any]] = {}
        self.defaults_seen = ""

    def fail(self, path: Path, message: str) -> None:
        problem = self.source.problem(path, message)
        if problem not in self.problems:  # a bad default is met once per node using it
            self.problems.append(problem)

    def build(self, hostvars: Mapping[str, Any], extra_vars: Mapping[str, Any]) -> Playbook:
        data = self.source.data
        for key in data:
            if key not in TOP_LEVEL_FIELDS:
                self.fail((key,), unknown_message("field", key, list(TOP_LEVEL_FIELDS)))
        playbook_vars = data.get("vars") or {}
        if not isinstance(playbook_vars, dict):
            self.fail(("vars",), "expected a mapping of variable names to values")
            playbook_vars = {}
        variables: dict[str, Any] = {}
        try:
            variables = resolve_variables([hostvars, playbook_vars, extra_vars])
        except TemplateProblem as exc:
            self.variable_problem(exc, playbook_vars, extra_vars)
        self.defaults = self.module_defaults(data.get("defaults"), variables)
        self.defaults_seen = repr(self.defaults)  # part of every node's key in `seen`
        checks = data.get("checks")
        nodes: dict[str, NodeSpec] = {}
        if not isinstance(checks, dict) or not checks:
            self.fail(("checks",), "expected a mapping of node names to checks")
        elif not self.problems:
            named: dict[str, Path] = {}
            for key, body in checks.items():
                for name, item_vars, where in self.expand(key, body, variables):
                    if name in named:
                        self.fail(where, f"node {name!r} is defined twice (also by {dotted(named[name])})")
                        continue
                    named[name] = where
                    node = self.expanded_node(key, name, body, variables, item_vars)
                    if node is not None:
                        nodes[name] = node
        if self.problems:
            raise PlaybookError(self.problems)
        header: dict[str, Any] = {k: data[k] for k in ("name", "hosts", "alembic_node") if k in data}
        alembic_node = data.get("alembic_node")
        if isinstance(alembic_node, str) and alembic_node not in nodes:
            self.fail(("alembic_node",), f"{alembic_node!r} is not a node; nodes: {', '.join(sorted(nodes))}")
        for key in ("run_limits", "maintenance", "notify", "alerts", "approvals"):
            if key in data:
                try:
                    header[key] = render_tree(data[key], variables, UNRENDERED)
                except TemplateProblem as exc:
                    self.fail((key, *exc.path), str(exc))
        self.alert_nodes(header.get("alerts"), nodes)
        if self.problems:
            raise PlaybookError(self.problems)
        playbook = self.validate(Playbook, {**header, "vars": variables}, ())
        if playbook is None:
            raise PlaybookError(self.problems)
        return playbook.model_copy(update={"nodes": nodes, "source": self.source.file})

    def alert_nodes(self, routes: Any, nodes: Mapping[str, NodeSpec]) -> None:
        """Each node an `alerts:` route names is a node of the playbook."""
        if not isinstance(routes, list):
            return
        for index, route in enumerate(routes):
            named = route.get("nodes") if isinstance(route, dict) else None
            for position, name in enumerate(named if isinstance(named, list) else []):
                if isinstance(name, str) and name not in nodes:
                    self.fail(
                        ("alerts", index, "nodes", position),
                        f"{name!r} is not a node; nodes: {', '.join(sorted(nodes))}",
                    )

    def variable_problem(
        self, problem: TemplateProblem, playbook_vars: Mapping[str, Any], extra_vars: Mapping[str, Any]
    ) -> None:
        """A variable that does not render: located at its line when the playbook's `vars`
        gave its value; otherwise the message says where it came from."""
        name = problem.path[0] if problem.path else None
        if name is not None and name in extra_vars:
            self.fail(("vars",), f"{problem} (from -e)")
        elif name is not None and name in playbook_vars:
            self.fail(("vars", *problem.path), str(problem))
        elif name is not None:
            self.fail(("vars",), f"{problem} (from the inventory)")
        else:
            self.fail(("vars",), str(problem))

    def module_defaults(self, raw: Any, variables: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
        """``defaults:`` checked against the module keys and their options, and rendered with
        the playbook's variables (once, so a bad default is reported once, at its line)."""
        if raw is None:
            return {}
        if not isinstance(raw, dict):
            self.fail(("defaults",), "expected a mapping of module keys (check or action types) to options")
            return {}
        known = sorted({*CHECK_TYPES, *ACTION_TYPES})
        result: dict[str, dict[str, Any]] = {}
        for key, options in raw.items():
            path: Path = ("defaults", key)
            if key not in CHECK_TYPES and key not in ACTION_TYPES:
                self.fail(path, unknown_message("module key", key, known))
                continue
            if not isinstance(options, dict):
                self.fail(path, f"expected a mapping of {key} options to their default values")
                continue
            fields = sorted({name for model in _models(key) for name in model.model_fields})
            for option in options:
                if option not in fields:
                    self.fail((*path, option), unknown_message(f"{key} option", option, fields))
            try:
                result[key] = render_tree(options, variables, frozenset())
            except TemplateProblem as exc:
                self.fail(path, str(exc))
        return result

    def expand(
        self, key: str, body: Any, variables: Mapping[str, Any]
    ) -> list[tuple[str, dict[str, Any], Path]]:
        """The nodes a ``checks:`` entry stands for: (name, loop variables, where it was
        defined). One per item of its ``loop:``, named by rendering the key with the item
        (``memory_{{ item }}``) or, for a key without a template, ``key_item``."""
        path: Path = ("checks", key)
        if not isinstance(body, dict) or not LOOP_FIELDS & body.keys():
            if is_template(key):
                self.fail(path, "a node name with a template needs a loop: to give it items")
                return []
            return [(key, {}, path)]
        loop_var = body.get("loop_var", DEFAULT_LOOP_VAR)
        if not isinstance(loop_var, str) or not loop_var.isidentifier():
            self.fail((*path, "loop_var"), f"expected a variable name, got {loop_var!r}")
            return []
        if "loop" not in body:
            self.fail((*path, "loop_var"), "loop_var without loop: name the items with loop:")
            return []
        items = body["loop"]
        try:
            items = (
                render_native(items, variables)
                if isinstance(items, str)
                else render_tree(items, variables, frozenset())
            )
        except TemplateProblem as exc:
            self.fail((*path, "loop"), str(exc))
            return []
        if not isinstance(items, list):
            self.fail(
                (*path, "loop"),
                f"expected a list, or a template naming a variable that holds one, got {_kind(items)}",
            )
            return []
        expanded: list[tuple[str, dict[str, Any], Path]] = []
        seen: dict[str, int] = {}
        literal = isinstance(body["loop"], list)
        for index, item in enumerate(items):
            where: Path = (*path, "loop", index) if literal else (*path, "loop")
            item_vars = {loop_var: item}
            if is_template(key):
                try:
                    name = render_string(key, {**variables, **item_vars}).strip()
                except TemplateProblem as exc:
                    self.fail(where, f"item {index}: {exc}")
                    continue
            elif isinstance(item, str | int | float) and not isinstance(item, bool):
                name = f"{key}_{item}"
            else:
                self.fail(
                    where,
                    f"item {index} is {_kind(item)}: name the nodes with a template key such as "
                    f"'{key}_{{{{ {loop_var}.name }}}}'",
                )
                continue
            if not name or ":" in name or any(c.isspace() for c in name):
                self.fail(where, f"item {index} gives the node name {name!r}: expected no spaces or ':'")
                continue
            if name in seen:
                self.fail(where, f"item {index} gives the node name {name!r}, as item {seen[name]} does")
                continue
            seen[name] = index
            expanded.append((name, item_vars, where))
        return expanded

    def expanded_node(
        self, key: str, name: str, body: Any, variables: Mapping[str, Any], item_vars: dict[str, Any]
    ) -> NodeSpec | None:
        """A node of the ``checks:`` entry `key`, for one loop item when it has a loop.
        Problems point at the entry's lines and name the expanded node (``checks.memory_redis``)."""
        if not item_vars:
            return self.node(name, body, variables)
        before = len(self.problems)
        body = {k: v for k, v in body.items() if k not in LOOP_FIELDS}
        node = self.node(name, body, {**variables, **item_vars}, path=("checks", key))
        if node is not None:
            return node.model_copy(update={"loop_vars": item_vars})
        entry = ("checks", key)
        self.problems[before:] = [
            replace(p, path=("checks", name, *p.path[2:])) if p.path[:2] == entry else p
            for p in self.problems[before:]
        ]
        return None

    def node(
        self, name: str, body: Any, variables: Mapping[str, Any], path: Path | None = None
    ) -> NodeSpec | None:
        path = path or ("checks", name)
        if not isinstance(body, dict):
            self.fail(path, "expected a mapping with a check type such as http: or tcp:")
            return None
        try:
            body = render_tree(body, variables, UNRENDERED)
        except TemplateProblem as exc:
            self.fail((*path, *exc.path), str(exc))
            return None
        # What the node's validation depends on: its name, place, rendering and the defaults
        # of its modules as rendered for this host.
        rendered = (name, repr(path), repr(body), self.defaults_seen)
        if rendered in self.seen:
            return self.seen[rendered]
        before = len(self.problems)
        module = self.module_key(path, body, NODE_FIELDS, CHECK_TYPES, "check")
        if module is None:
            return None
        check = self.module(CHECK_TYPES[module], module, body[module], (*path, module))
        steps = [
            self.step((*path, "remediate", index), raw)
            for index, raw in enumerate(self.as_list(body.get("remediate"), (*path, "remediate")))
        ]
        if body.get("when") is not None:
            self.expression(body["when"], (*path, "when"))
        common = {k: v for k, v in body.items() if k in NODE_FIELDS and k != "remediate"}
        if check is None or any(step is None for step in steps):
            self.validate(NodeSpec, {"name": name, **common}, path, skip_missing=True)
            return None
        node = self.validate(NodeSpec, {"name": name, "check": check, "remediate": steps, **common}, path)
        if node is not None and len(self.problems) == before:
            self.seen[rendered] = node
        return node

    def step(self, path: Path, body: Any) -> StepSpec | None:
        if not isinstance(body, dict):
            self.fail(path, "expected a mapping with an action type such as command:")
            return None
        module = self.module_key(path, body, STEP_FIELDS, ACTION_TYPES, "action")
        if module is None:
            return None
        action = self.module(ACTION_TYPES[module], module, body[module], (*path, module))
        unless = None
        if body.get("unless") is not None:
            guard = body["unless"]
            guard_path = (*path, "unless")
            key = self.module_key(guard_path, guard, frozenset(), CHECK_TYPES, "check")
            if key is None:
                return None
            unless = self.module(CHECK_TYPES[key], key, guard[key], (*guard_path, key))
            if unless is None:
                return None
        if body.get("when") is not None:
            self.expression(body["when"], (*path, "when"))
        if action is None:
            return None
        common = {k: v for k, v in body.items() if k in STEP_FIELDS and k != "unless"}
        return self.validate(StepSpec, {"action": action, "unless": unless, **common}, path)

    def module(self, model: type[M], key: str, options: Any, path: Path) -> M | None:
        """A check or action from its options over the playbook's ``defaults:`` for its key
        (the node's own options win, one by one, as with Ansible's module_defaults). A default
        applies to the types that declare the option (``command`` is a check and an action)."""
        defaults = {k: v for k, v in self.defaults.get(key, {}).items() if k in model.model_fields}
        if not defaults:
            return self.validate(model, options or {}, path)
        if options is not None and not isinstance(options, dict):
            return self.validate(model, options, path)
        own = options or {}
        origins = {option: ("defaults", key, option) for option in defaults if option not in own}
        return self.validate(model, {**defaults, **own}, path, origins=origins)

    def module_key(
        self, path: Path, body: Any, common: frozenset[str], registry: Mapping[str, Any], kind: str
    ) -> str | None:
        """The one module key of a node or step; problems for none, several or unknown."""
        if not isinstance(body, dict):
            self.fail(path, f"expected a mapping with a {kind} type")
            return None
        candidates = [key for key in body if key not in common]
        known = sorted(registry)
        unknown = [key for key in candidates if key not in registry]
        for key in unknown:
            self.fail((*path, key), unknown_message(f"{kind} type", key, known, extra=sorted(common)))
        modules = [key for key in candidates if key in registry]
        if len(modules) > 1:
            self.fail(path, f"one {kind} type per entry, got {' and '.join(modules)}")
            return None
        if not modules:
            if not unknown:
                self.fail(path, f"no {kind} type given; expected one of: {', '.join(known)}")
            return None
        if unknown:
            return None
        return modules[0]

    def expression(self, expression: Any, path: Path) -> None:
        if not isinstance(expression, str):
            if not isinstance(expression, bool):
                self.fail(path, f"expected an expression, got {expression!r}")
            return
        try:
            check_expression(expression)
        except TemplateProblem as exc:
            self.fail(path, str(exc))

    def as_list(self, value: Any, path: Path) -> list[Any]:
        if value is None:
            return []
        if not isinstance(value, list):
            self.fail(path, "expected a list of steps")
            return []
        return value

    def validate(
        self,
        model: type[M],
        data: Any,
        path: Path,
        skip_missing: bool = False,
        origins: Mapping[str, Path] | None = None,
    ) -> M | None:
        """`data` as `model`, or None with its problems recorded; `origins` relocates the
        problems of fields that came from elsewhere (``defaults:``) to where they were written."""
        try:
            return model.model_validate(data)
        except ValidationError as exc:
            for loc, message in describe_validation_error(exc, data, model):
                if skip_missing and message == MISSING:
                    continue
                origin = origins.get(str(loc[0])) if origins and loc else None
                self.fail((*origin, *loc[1:]) if origin else (*path, *loc), message)
            return None


def _models(key: str) -> list[type[BaseModel]]:
    """The check and action types a module key names (``command`` is both)."""
    models: list[type[BaseModel]] = []
    for registry in (CHECK_TYPES, ACTION_TYPES):
        if key in registry:
            models.append(registry[key])
    return models


def _kind(value: Any) -> str:
    """A value's kind in a playbook author's words: ``a string ('a,b')``."""
    kinds = {
        str: "a string",
        int: "a number",
        float: "a number",
        bool: "a boolean",
        dict: "a mapping",
        list: "a list",
    }
    return f"{kinds.get(type(value), type(value).__name__)} ({value!r})" if value is not None else "nothing"
