"""A starting playbook from docker compose files (`remediate init --from-compose`).

One node per service. Its check is, in this order of preference: the service's
healthcheck, run in its container (`docker_command`); a TCP check of its first published
port; the container running (`docker_container`). Its remediation restarts the container
and waits for the check. What compose waits for before starting a service becomes graph
edges: `depends_on` (list or map form), `links`, `volumes_from` and `network_mode:
service:NAME`; a left-out one-shot job is replaced by what it waits for.

Several files merge in the order given, as `docker compose -f a.yml -f b.yml` merges them.
The rules implemented (a subset of the compose specification's merge rules):

- mappings merge key by key, recursively; a later file's scalar replaces an earlier one;
- `command`, `entrypoint` and `healthcheck.test` are replaced as a whole;
- `environment` and `labels` (list `KEY=VALUE` or mapping form) merge by key;
- `depends_on` (list or mapping form) merges by service name;
- `ports`, `expose` and every other list are appended, duplicates dropped.

Services with `profiles` are included only when one of their profiles is active
(`COMPOSE_PROFILES` and `--profile`). Strings are interpolated per file, before the merge,
by the compose specification's rules (`interpolate_text`) from the environment and the
`.env` file beside the first compose file.

What cannot be translated is listed (`Translation.untranslated`), never silently dropped.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.errors import ComposeError
from engine.playbook.render import literal

REPLACED = frozenset({"command", "entrypoint"})
"""Service keys whose later value replaces the earlier one entirely."""
KEYED = frozenset({"environment", "labels"})
"""Service keys merged by key, whatever form (list or mapping) each file writes them in."""


class _Own(str):
    """A template this module writes (``{{ project }}``); every other string in the
    playbook comes from the compose files and is escaped so it can never become one."""


PROJECT = _Own("{{ project }}")
HOST = _Own("{{ host }}")
WAIT_TIMEOUT = _Own("{{ wait_timeout }}")


@dataclass
class Translation:
    """The playbook (as data, ready to dump as YAML) and what could not be translated."""

    project: str
    playbook: dict[str, Any]
    untranslated: list[str] = field(default_factory=list)
    checked_ports: list[str] = field(default_factory=list)
    """`service: host:port` of each published port a TCP check tries; every other published
    port is listed in `untranslated`."""


def project_environment(
    first_file: str | Path, environment: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The variables compose reads: the `.env` file beside the first compose file, under the
    environment (`os.environ` unless given), which wins, as in compose."""
    env = dict(_dotenv(Path(first_file).parent / ".env"))
    env.update(environment if environment is not None else os.environ)
    return env


def active_profiles(requested: Sequence[str], env: Mapping[str, str]) -> list[str]:
    """The active profiles: `COMPOSE_PROFILES` (comma-separated, from the environment or
    `.env`) with those given on the command line added, as compose does."""
    names = [*str(env.get("COMPOSE_PROFILES") or "").split(","), *requested]
    return list(dict.fromkeys(name.strip() for name in names if name.strip()))


def project_name(
    explicit: str | None, compose: Mapping[str, Any], env: Mapping[str, str], first_file: str | Path
) -> str:
    """The compose project's name by compose's precedence: `-p/--project`, then
    `COMPOSE_PROJECT_NAME` (environment, then `.env`), then the files' top-level `name:`
    (the last file's wins), then the first file's directory name, normalised."""
    for name in (explicit, env.get("COMPOSE_PROJECT_NAME"), compose.get("name")):
        if name:
            return str(name)
    directory = Path(first_file).resolve().parent.name
    # As compose normalises a directory's name: lowercase, [a-z0-9_-] only.
    return re.sub(r"[^a-z0-9_-]", "", directory.lower()) or "default"


def load_compose(
    files: Sequence[str | Path],
    environment: Mapping[str, str] | None = None,
    notes: list[str] | None = None,
) -> dict[str, Any]:
    """Read, interpolate and merge compose files in the order given, then check that every
    service a service depends on is defined, as compose does. `environment` holds every
    variable (see `project_environment`, the default). Required variables
    (`${VAR:?message}`) that are not set become empty, with a line in `notes`: compose
    would refuse to start, but a playbook can still be written."""
    from ruamel.yaml.error import YAMLError

    from engine.errors import InputLimitError
    from engine.input_limits import load_yaml, read_text

    if not files:
        raise ComposeError("no compose file given")
    env = dict(environment) if environment is not None else project_environment(files[0])
    merged: dict[str, Any] = {}
    documents: list[tuple[str, Any]] = []
    for file in files:
        try:
            # Read with positions ("rt") so that errors name their line.
            data = load_yaml(read_text(file), str(file), typ="rt")
        except InputLimitError as exc:
            raise ComposeError(str(exc)) from None
        except YAMLError as exc:
            raise ComposeError(f"{file} is not YAML: {exc}") from None
        if data is None:
            continue
        if not isinstance(data, dict) or not isinstance(data.get("services", {}), dict):
            raise ComposeError(f"{file}: expected a mapping with `services:`")
        for name, service in (data.get("services") or {}).items():
            if service is not None and not isinstance(service, dict):
                line = _line(data["services"], name, 0)
                raise ComposeError(f"{file}:{line}: services.{name}: expected a mapping, got {service!r}")
        documents.append((str(file), data))
        merged = merge_files(merged, interpolate(data, env, notes, source=str(file)))
    if not merged.get("services"):
        raise ComposeError("the compose files define no services")
    check_references(merged, documents, notes)
    return merged


def merge_files(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """`override` (a later -f file) merged onto `base`, by the rules in the module docstring."""
    result = dict(base)
    for key, value in override.items():
        if key == "services" and isinstance(value, dict):
            services = dict(result.get("services") or {})
            for name, service in value.items():
                services[name] = _merge_service(services.get(name) or {}, service or {})
            result["services"] = services
        elif isinstance(value, dict) and isinstance(result.get(key), dict):
            result[key] = _merge_mapping(result[key], value)
        else:
            result[key] = value
    return result


def _merge_service(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    result = dict(base)
    for key, value in override.items():
        if key not in result or key in REPLACED:
            result[key] = value
        elif key in KEYED:
            result[key] = {**_keyed(result[key]), **_keyed(value)}
        elif key == "depends_on":
            result[key] = {**depends_on(result[key]), **depends_on(value)}
        elif key == "healthcheck" and isinstance(value, dict) and isinstance(result[key], dict):
            result[key] = {**result[key], **value}  # `test` replaced as a whole
        else:
            result[key] = _merge_value(result[key], value)
    return result


def _merge_value(base: Any, override: Any) -> Any:
    if isinstance(base, dict) and isinstance(override, dict):
        return _merge_mapping(base, override)
    if isinstance(base, list) and isinstance(override, list):
        return base + [item for item in override if item not in base]
    return override


def _merge_mapping(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    result = dict(base)
    for key, value in override.items():
        result[key] = _merge_value(result[key], value) if key in result else value
    return result


def _keyed(value: Any) -> dict[str, Any]:
    if isinstance(value, dict):
        return dict(value)
    if isinstance(value, list):
        pairs = (str(item).split("=", 1) for item in value)
        return {pair[0]: (pair[1] if len(pair) > 1 else None) for pair in pairs}
    return {}


def depends_on(value: Any) -> dict[str, dict[str, Any]]:
    """`depends_on` in map form: service -> {condition: ...} (the list form means
    `service_started`)."""
    if isinstance(value, list):
        return {str(name): {"condition": "service_started"} for name in value}
    if isinstance(value, dict):
        return {
            str(name): dict(options or {"condition": "service_started"}) for name, options in value.items()
        }
    return {}


@dataclass(frozen=True)
class Dependency:
    """A service another one waits for: the `depends_on` condition (`service_started` for
    the other forms), whether compose refuses the file when it is undefined (`required`),
    and the key that names it (`via`)."""

    condition: str
    required: bool
    via: str


def dependencies(service: Mapping[str, Any]) -> dict[str, Dependency]:
    """Every service `service` waits for, as compose orders start-up: `depends_on` (list or
    map form), then the implicit ones compose adds: `links` (`name` or `name:alias`),
    `volumes_from` naming a service (not `container:...`) and `network_mode: service:NAME`."""
    result = {
        name: Dependency(
            str(options.get("condition") or "service_started"),
            options.get("required", True) not in (False, "false"),
            "depends_on",
        )
        for name, options in depends_on(service.get("depends_on")).items()
    }
    implicit = [("links", str(link).split(":", 1)[0]) for link in _entries(service.get("links"))]
    implicit += [
        ("volumes_from", str(source).split(":", 1)[0])
        for source in _entries(service.get("volumes_from"))
        if not str(source).startswith("container:")
    ]
    network = str(service.get("network_mode") or "")
    if network.startswith("service:"):
        implicit.append(("network_mode", network.removeprefix("service:")))
    for via, name in implicit:
        result.setdefault(name, Dependency("service_started", True, via))
    return result


def _entries(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list) else []


def check_references(
    compose: Mapping[str, Any], documents: Sequence[tuple[str, Any]] = (), notes: list[str] | None = None
) -> None:
    """Refuse, as compose does ("depends on undefined service"), a service waiting for one
    that no file defines; `documents` ((file, document read with positions)) locate it.
    A `depends_on` entry with `required: false` is only a warning for compose: no error."""
    services = compose.get("services") or {}
    for name, service in services.items():
        for dependency, wait in dependencies(service or {}).items():
            if dependency in services or not wait.required:
                continue
            raise ComposeError(
                f"{_where(documents, name, wait.via, dependency)}: services.{name}.{wait.via}: "
                f"service {name!r} depends on undefined service {dependency!r}: invalid compose project"
            )


def _where(documents: Sequence[tuple[str, Any]], service: str, key: str, dependency: str) -> str:
    """`file:line` of the entry naming `dependency` under `services.service.key`, the
    first file that has it (the file alone when it cannot be found: an interpolated name)."""
    for file, document in documents:
        services = document.get("services")
        parent = services.get(service) if isinstance(services, dict) else None
        entries = parent.get(key) if isinstance(parent, dict) else None
        if entries is None:
            continue
        line = _line(parent, key, 0)
        if isinstance(entries, list):
            for index, entry in enumerate(entries):
                if str(entry).split(":", 1)[0] == dependency:
                    line = _line(entries, index, line)
        elif isinstance(entries, dict) and dependency in entries:
            line = _line(entries, dependency, line)
        return f"{file}:{line}" if line else file
    return documents[0][0] if documents else "compose file"


def interpolate(
    value: Any, env: Mapping[str, str], notes: list[str] | None = None, *, source: str = ""
) -> Any:
    """Compose's variable interpolation over every string value of a parsed file (keys are
    not interpolated, as in compose). A malformed expression (`${}`, `${ X}`, `${X!}`, an
    unclosed `${`) is a ComposeError naming `source`, the line and the field."""
    return _interpolate_tree(value, env, notes, source, (), 0)


def _interpolate_tree(
    value: Any,
    env: Mapping[str, str],
    notes: list[str] | None,
    source: str,
    path: tuple[str | int, ...],
    line: int,
) -> Any:
    if isinstance(value, str):
        try:
            return interpolate_text(value, env, notes)
        except _InvalidTemplate as exc:
            where = f"{source}:{line}" if line else source
            field = _dotted(path)
            raise ComposeError(f"{where}: {field}: {exc}" if field else f"{where}: {exc}") from None
    if isinstance(value, list):
        return [
            _interpolate_tree(item, env, notes, source, (*path, index), _line(value, index, line))
            for index, item in enumerate(value)
        ]
    if isinstance(value, dict):
        return {
            key: _interpolate_tree(item, env, notes, source, (*path, str(key)), _line(value, key, line))
            for key, item in value.items()
        }
    return value


def _line(container: Any, key: Any, default: int) -> int:
    """The 1-based line of a key or item when the document was read with its positions."""
    try:
        if isinstance(container, dict):
            return int(container.lc.key(key)[0]) + 1  # type: ignore[attr-defined]
        return int(container.lc.item(key)[0]) + 1
    except (AttributeError, KeyError, IndexError, TypeError):
        return default


def _dotted(path: Sequence[str | int]) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text


class _InvalidTemplate(ValueError):
    """An expression compose refuses to interpolate."""


_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_OPERATORS = (":-", ":?", ":+", "-", "?", "+")
"""Longest first: in `${V:-x}` the operator is `:-`, never `-` with a name `V:`."""


def interpolate_text(text: str, env: Mapping[str, str], notes: list[str] | None = None) -> str:
    """One string interpolated by the compose specification's rules:

    - `$$` is a literal `$`; a `$` not followed by a name or `{` stays as it is;
    - `$NAME` and `${NAME}`: the value, empty when unset;
    - `${NAME:-word}` / `${NAME-word}`: `word` when NAME is unset or empty / unset;
    - `${NAME:?word}` / `${NAME?word}`: an error with message `word` when NAME is unset or
      empty / unset (here: a line in `notes` and an empty value, see `load_compose`);
    - `${NAME:+word}` / `${NAME+word}`: `word` when NAME is set and not empty / set, else empty;
    - `word` is interpolated too (`${A:-${B:-8080}}`), only when it is used, and extends to
      the `}` that closes the expression (each `${` inside opens one more).

    What a variable holds is never interpolated again."""
    out: list[str] = []
    index = 0
    while True:
        dollar = text.find("$", index)
        if dollar < 0:
            out.append(text[index:])
            return "".join(out)
        out.append(text[index:dollar])
        after = text[dollar + 1 : dollar + 2]
        if after == "$":
            out.append("$")
            index = dollar + 2
        elif after == "{":
            end = _closing_brace(text, dollar)
            if end < 0:
                raise _InvalidTemplate(f"invalid interpolation {text!r}: `${{` is not closed")
            out.append(_braced(text, text[dollar + 2 : end], env, notes))
            index = end + 1
        elif (name := _NAME.match(text, dollar + 1)) is not None:
            out.append(env.get(name.group(), ""))
            index = name.end()
        else:
            out.append("$")
            index = dollar + 1


def _closing_brace(text: str, start: int) -> int:
    """The index of the `}` closing the `${` at `start`, or -1. Counted as compose counts:
    every `${` opens (even after a `$`), every `}` closes."""
    depth = 0
    index = start
    while index < len(text):
        if text.startswith("${", index):
            depth += 1
            index += 2
            continue
        if text[index] == "}":
            depth -= 1
            if depth == 0:
                return index
        index += 1
    return -1


def _braced(text: str, body: str, env: Mapping[str, str], notes: list[str] | None) -> str:
    name_match = _NAME.match(body)
    if name_match is None:
        raise _InvalidTemplate(
            f"invalid interpolation {text!r}: `${{{body}}}` does not start with a variable name"
        )
    name, rest = name_match.group(), body[name_match.end() :]
    value = env.get(name)
    if not rest:
        return value or ""
    operator = next((op for op in _OPERATORS if rest.startswith(op)), None)
    if operator is None:
        raise _InvalidTemplate(
            f"invalid interpolation {text!r}: after {name} expected `}}`, `:-`, `-`, `:?`, `?`, `:+` or `+`"
        )
    word = rest[len(operator) :]
    missing = value is None or (operator.startswith(":") and value == "")
    kind = operator[-1]
    if kind == "-":
        return interpolate_text(word, env, notes) if missing else str(value)
    if kind == "+":
        return "" if missing else interpolate_text(word, env, notes)
    if missing:
        message = interpolate_text(word, env, notes)
        note = f"required variable {name} is not set" + (f": {message}" if message else "")
        if notes is not None and note not in notes:
            notes.append(note)
        return ""
    return str(value)


def _dotenv(path: Path) -> dict[str, str]:
    if not path.is_file():
        return {}
    values: dict[str, str] = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        name, value = line.split("=", 1)
        value = value.strip()
        if value[:1] in ("'", '"') and value[0] in value[1:]:
            value = value[1 : value.index(value[0], 1)]  # quoted: up to the closing quote
        else:
            value = value.split(" #", 1)[0].rstrip()  # unquoted: ` #` starts a comment, as in compose
        values[name.strip().removeprefix("export ").strip()] = value
    return values


# --- translation -----------------------------------------------------------------------------


def translate(
    compose: Mapping[str, Any],
    *,
    project: str,
    profiles: Sequence[str] = (),
    source: str = "",
) -> Translation:
    """The playbook for a merged compose document. `profiles` are the active ones (`*`
    activates every profile, as in compose)."""
    services: dict[str, Any] = dict(compose.get("services") or {})
    untranslated: list[str] = []
    active = set(profiles)
    included = {
        name: service or {}
        for name, service in services.items()
        if not (service or {}).get("profiles") or "*" in active or active & set(service["profiles"])
    }
    for name in services:
        if name not in included:
            untranslated.append(f"{name}: left out, its profiles {services[name]['profiles']} are not active")
    waits = {name: dependencies(service) for name, service in included.items()}
    one_shot = {
        dependency
        for wait in waits.values()
        for dependency, options in wait.items()
        if options.condition == "service_completed_successfully"
    }
    for name in sorted(one_shot & set(included)):
        untranslated.append(
            f"{name}: a one-shot job (others wait for it to complete successfully); no node, "
            "since a finished job is not a running service; who waits for it waits for what it waits for"
        )
    checks: dict[str, Any] = {}
    for name, service in included.items():
        if name in one_shot:
            continue
        checks[name] = _node(name, service, _edges(name, waits, one_shot), services, included, untranslated)
    for name, service in included.items():
        if isinstance(service, dict) and "extends" in service:
            untranslated.append(f"{name}: `extends` not followed; its own keys only")
    if compose.get("include"):
        untranslated.append("include: not followed; pass the included files with -f instead")
    playbook = {
        "name": project,
        "hosts": "all",
        "vars": {"project": project, "host": "127.0.0.1", "wait_timeout": "60s"},
        "checks": checks,
    }
    checked_ports = [
        f"{name}: {node['tcp']['host']}:{node['tcp']['port']}"
        for name, node in checks.items()
        if "tcp" in node
    ]
    return Translation(project, _escaped(playbook), untranslated, checked_ports)


def _edges(
    name: str, waits: Mapping[str, dict[str, Dependency]], one_shot: set[str]
) -> dict[str, Dependency]:
    """What `name` waits for, a left-out one-shot job replaced by what that job waits for
    (recursively), so that the order through it is kept: compose starts the job's
    dependencies before the job, and the job before `name`."""
    edges: dict[str, Dependency] = {}
    seen = {name}
    pending = list(waits.get(name, {}).items())
    while pending:
        dependency, wait = pending.pop(0)
        if dependency in seen:
            continue
        seen.add(dependency)
        if dependency in one_shot and dependency in waits:
            pending[:0] = list(waits.get(dependency, {}).items())  # in place of the job, in order
        else:
            edges[dependency] = wait
    return edges


def _node(
    name: str,
    service: Mapping[str, Any],
    waits: Mapping[str, Dependency],
    services: Mapping[str, Any],
    included: Mapping[str, Any],
    untranslated: list[str],
) -> dict[str, Any]:
    node: dict[str, Any] = {"description": ""}
    edges = []
    for dependency, wait in waits.items():
        if dependency not in included:
            reason = "is not included" if dependency in services else "is not defined (required: false)"
            untranslated.append(f"{name}: depends on {dependency}, which {reason}; edge dropped")
            continue
        edges.append(dependency)
        if wait.condition not in ("service_started", "service_healthy", "service_completed_successfully"):
            untranslated.append(
                f"{name}: depends_on {dependency} condition {wait.condition!r} read as an edge"
            )
    if edges:
        node["depends_on"] = edges
    replicas = (service.get("deploy") or {}).get("replicas", service.get("scale", 1))
    if isinstance(replicas, int) and replicas > 1:
        untranslated.append(
            f"{name}: scaled to {replicas} containers; the checks find one container per service, "
            "name one with `container:`"
        )
    reference = {"project": PROJECT, "service": name}
    check_key, check, wait_timeout = _check(name, service, reference, untranslated)
    node["description"] = f"compose service {name}: {_describe(check_key, check)}"
    node[check_key] = check
    node["remediate"] = [
        {"name": f"restart {name}", "docker_restart": dict(reference)},
        {"name": f"wait until {name} is healthy", "wait": {"timeout": wait_timeout}},
    ]
    return node


def _check(
    name: str, service: Mapping[str, Any], reference: dict[str, str], untranslated: list[str]
) -> tuple[str, dict[str, Any], str]:
    """(check type, options, wait timeout) for a service."""
    healthcheck = service.get("healthcheck") or {}
    test = healthcheck.get("test")
    if healthcheck.get("disable") or test in (["NONE"], "NONE"):
        test = None
    wait = WAIT_TIMEOUT
    if test is not None:
        command = _healthcheck_command(name, test, untranslated)
        if command is not None:
            check: dict[str, Any] = {**reference, "cmd": command}
            timeout = _seconds(healthcheck.get("timeout"))
            if timeout is not None:
                check["timeout"] = f"{timeout:g}s"
            for entry in service.get("ports") or []:
                untranslated.append(f"{name}: port {entry!r} not checked (its healthcheck is the check)")
            return "docker_command", check, wait
    port = _published_tcp_port(name, service.get("ports") or [], untranslated)
    if port is not None:
        host, published = port
        return "tcp", {"host": host, "port": published, "timeout": "5s"}, wait
    return "docker_container", dict(reference), wait


def _healthcheck_command(name: str, test: Any, untranslated: list[str]) -> str | list[str] | None:
    if isinstance(test, str):
        return test  # the string form is CMD-SHELL
    if isinstance(test, list) and test:
        kind, *argv = [str(part) for part in test]
        if kind == "CMD" and argv:
            return argv
        if kind == "CMD-SHELL" and argv:
            return " ".join(argv)
    untranslated.append(f"{name}: healthcheck test {test!r} is not CMD, CMD-SHELL or a string")
    return None


def _published_tcp_port(name: str, ports: list[Any], untranslated: list[str]) -> tuple[str, int] | None:
    """(host address, port) of the first published TCP port; the rest are listed."""
    found: list[tuple[str, int]] = []
    for entry in ports:
        parsed = _parse_port(entry)
        if parsed is None:
            untranslated.append(f"{name}: port {entry!r} publishes no fixed TCP host port; not checked")
        else:
            found.append(parsed)
    for host, port in found[1:]:
        untranslated.append(f"{name}: port {host}:{port} not checked (a node checks the first port)")
    return found[0] if found else None


def _parse_port(entry: Any) -> tuple[str, int] | None:
    if isinstance(entry, dict):
        published, protocol = entry.get("published"), entry.get("protocol", "tcp")
        if protocol != "tcp" or published is None or not str(published).isdigit():
            return None
        return _loopback(str(entry.get("host_ip") or "")), int(published)
    text = str(entry)
    text, _, protocol = text.partition("/")
    if protocol not in ("", "tcp"):
        return None
    parts = text.rsplit(":", 2) if not text.startswith("[") else re.split(r"(?<=\]):", text)
    if len(parts) < 2:
        return None  # only a container port: Docker picks a random host port
    published = parts[-2]
    if not published.isdigit():
        return None  # a range or empty
    host = parts[-3] if len(parts) == 3 else ""
    return _loopback(host.strip("[]")), int(published)


def _loopback(host: str) -> str:
    """Where the controller reaches a published port: its bind address, or loopback when
    the port is published on every address."""
    return HOST if host in ("", "0.0.0.0", "::") else host


def _seconds(duration: Any) -> float | None:
    """A compose duration (`10s`, `1m30s`, `500ms`) in seconds."""
    if duration is None:
        return None
    if isinstance(duration, int | float):
        return float(duration)
    units = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001, "us": 1e-6}
    total, matched = 0.0, False
    for number, unit in re.findall(r"(\d+(?:\.\d+)?)(ms|us|h|m|s)", str(duration)):
        total += float(number) * units[unit]
        matched = True
    return total if matched else None


def _escaped(value: Any) -> Any:
    """The playbook data with every string value copied from the compose files (names, commands,
    addresses) written as a literal, so that a compose file can never put a template into
    the playbook; this module's own templates (`_Own`) are kept."""
    if isinstance(value, _Own):
        return str(value)
    if isinstance(value, str):
        return literal(value)
    if isinstance(value, dict):
        return {k: _escaped(v) for k, v in value.items()}  # keys are names, never rendered
    if isinstance(value, list):
        return [_escaped(v) for v in value]
    return value


def _describe(check_key: str, check: Mapping[str, Any]) -> str:
    if check_key == "docker_command":
        cmd = check["cmd"]
        return "healthcheck `" + (cmd if isinstance(cmd, str) else " ".join(cmd)) + "` in its container"
    if check_key == "tcp":
        return f"published port {check['port']} accepts connections"
    return "its container is running"


def _one_line(text: str) -> str:
    return " ".join(text.splitlines())


def render(translation: Translation, sources: Sequence[str]) -> str:
    """The playbook as YAML, headed by where it came from and what was not translated."""
    import io

    from ruamel.yaml import YAML

    yaml = YAML()
    yaml.default_flow_style = False
    yaml.width = 4096
    yaml.indent(mapping=2, sequence=4, offset=2)
    body = io.StringIO()
    yaml.dump(translation.playbook, body)
    header = [
        f"# Generated by `remediate init --from-compose` from {', '.join(sources)}.",
        "# A starting point: review the checks, add the steps your runbook takes, set severities.",
        "# Variables: project (compose project name), host (where published ports answer),",
        "# wait_timeout (how long a restarted service may take to pass its check).",
    ]
    header.append(
        "# Ports: a service's first published TCP host port is checked when it has no healthcheck;"
    )
    header.append("# every other published port is listed below as not checked.")
    checked = ", ".join(_one_line(port) for port in translation.checked_ports) or "none"
    header.append(f"# Ports checked: {checked}")
    if translation.untranslated:
        header.append("# Not translated:")
        # One comment line each: a line break in a compose value must not end the comment.
        header.extend(f"#   - {_one_line(item)}" for item in translation.untranslated)
    return "\n".join(header) + "\n" + body.getvalue()
