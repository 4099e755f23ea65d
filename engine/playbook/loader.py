"""Reading a playbook file: YAML with positions, variables rendered, every field validated.

Errors are collected, not raised at the first one, and each names the file, line,
column and field path; nothing runs when there is any.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path as FilePath
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from engine.playbook.errors import (
    MISSING,
    Path,
    PlaybookError,
    Problem,
    describe_validation_error,
    unknown_message,
)
from engine.playbook.models import NODE_FIELDS, STEP_FIELDS, NodeSpec, Playbook, StepSpec
from engine.playbook.render import (
    TemplateProblem,
    check_expression,
    render_tree,
    resolve_variables,
)
from engine.registry import ACTION_TYPES, CHECK_TYPES

M = TypeVar("M", bound=BaseModel)

TOP_LEVEL_FIELDS = ("name", "hosts", "vars", "checks", "run_limits", "maintenance", "notify")
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

    from engine.input_limits import InputLimitError, load_yaml, read_text

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
    if isinstance(node, str):
        return str(node)
    return node


def load_playbook(
    file: str | FilePath,
    hostvars: Mapping[str, Any] | None = None,
    extra_vars: Mapping[str, Any] | None = None,
) -> Playbook:
    """Read, render and validate a playbook for one host's variables."""
    return build_playbook(read_playbook(file), hostvars or {}, extra_vars or {})


def build_playbook(
    source: PlaybookSource, hostvars: Mapping[str, Any], extra_vars: Mapping[str, Any]
) -> Playbook:
    """Render a parsed playbook with variables (inventory < playbook vars < extra vars, as in
    Ansible) and validate it into a Playbook. Raises PlaybookError with every problem."""
    builder = _Builder(source)
    return builder.build(hostvars, extra_vars)


class _Builder:
    def __init__(self, source: PlaybookSource) -> None:
        self.source = source
        self.problems: list[Problem] = []

    def fail(self, path: Path, message: str) -> None:
        self.problems.append(self.source.problem(path, message))

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
            self.fail(("vars",), str(exc))
        checks = data.get("checks")
        nodes: dict[str, NodeSpec] = {}
        if not isinstance(checks, dict) or not checks:
            self.fail(("checks",), "expected a mapping of node names to checks")
        elif not self.problems:
            for name, body in checks.items():
                node = self.node(name, body, variables)
                if node is not None:
                    nodes[name] = node
        if self.problems:
            raise PlaybookError(self.problems)
        header: dict[str, Any] = {k: data[k] for k in ("name", "hosts") if k in data}
        for key in ("run_limits", "maintenance", "notify"):
            if key in data:
                try:
                    header[key] = render_tree(data[key], variables, UNRENDERED)
                except TemplateProblem as exc:
                    self.fail((key,), str(exc))
        if self.problems:
            raise PlaybookError(self.problems)
        playbook = self.validate(Playbook, {**header, "vars": variables}, ())
        if playbook is None:
            raise PlaybookError(self.problems)
        return playbook.model_copy(update={"nodes": nodes, "source": self.source.file})

    def node(self, name: str, body: Any, variables: Mapping[str, Any]) -> NodeSpec | None:
        path: Path = ("checks", name)
        if not isinstance(body, dict):
            self.fail(path, "expected a mapping with a check type such as http: or tcp:")
            return None
        try:
            body = render_tree(body, variables, UNRENDERED)
        except TemplateProblem as exc:
            self.fail(path, str(exc))
            return None
        module = self.module_key(path, body, NODE_FIELDS, CHECK_TYPES, "check")
        if module is None:
            return None
        check = self.validate(CHECK_TYPES[module], body[module] or {}, (*path, module))
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
        return self.validate(NodeSpec, {"name": name, "check": check, "remediate": steps, **common}, path)

    def step(self, path: Path, body: Any) -> StepSpec | None:
        if not isinstance(body, dict):
            self.fail(path, "expected a mapping with an action type such as command:")
            return None
        module = self.module_key(path, body, STEP_FIELDS, ACTION_TYPES, "action")
        if module is None:
            return None
        action = self.validate(ACTION_TYPES[module], body[module] or {}, (*path, module))
        unless = None
        if body.get("unless") is not None:
            guard = body["unless"]
            guard_path = (*path, "unless")
            key = self.module_key(guard_path, guard, frozenset(), CHECK_TYPES, "check")
            if key is None:
                return None
            unless = self.validate(CHECK_TYPES[key], guard[key] or {}, (*guard_path, key))
            if unless is None:
                return None
        if body.get("when") is not None:
            self.expression(body["when"], (*path, "when"))
        if action is None:
            return None
        common = {k: v for k, v in body.items() if k in STEP_FIELDS and k != "unless"}
        return self.validate(StepSpec, {"action": action, "unless": unless, **common}, path)

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

    def validate(self, model: type[M], data: Any, path: Path, skip_missing: bool = False) -> M | None:
        try:
            return model.model_validate(data)
        except ValidationError as exc:
            known = sorted(n for n in model.model_fields if n not in ("name", "check", "action"))
            for loc, message in describe_validation_error(exc, data, known):
                if skip_missing and message == MISSING:
                    continue
                self.fail((*path, *loc), message)
            return None
