"""A starting playbook from docker compose files (`remediate init --from-compose`).

One node per service. Its check is, in this order of preference: the service's
healthcheck, run in its container (`docker_command`); a TCP check of its first published
port; the container running (`docker_container`). Its remediation restarts the container
and waits for the check. `depends_on` (list or map form) become graph edges.

Several files merge in the order given, as `docker compose -f a.yml -f b.yml` merges them.
The rules implemented (a subset of the compose specification's merge rules):

- mappings merge key by key, recursively; a later file's scalar replaces an earlier one;
- `command`, `entrypoint` and `healthcheck.test` are replaced as a whole;
- `environment` and `labels` (list `KEY=VALUE` or mapping form) merge by key;
- `depends_on` (list or mapping form) merges by service name;
- `ports`, `expose` and every other list are appended, duplicates dropped.

Services with `profiles` are included only when one of their profiles is active.
`${VAR}`, `${VAR:-default}`, `${VAR-default}` and `$$` are interpolated from the
environment and the `.env` file beside the first compose file, as compose does.

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
_INTERPOLATION = re.compile(r"\$(?:\$|\{(?P<braced>[^}]*)\}|(?P<plain>[A-Za-z_][A-Za-z0-9_]*))")


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


def load_compose(
    files: Sequence[str | Path],
    environment: Mapping[str, str] | None = None,
    notes: list[str] | None = None,
) -> dict[str, Any]:
    """Read, interpolate and merge compose files in the order given. Required variables
    (`${VAR:?message}`) that are not set become empty, with a line in `notes`: compose
    would refuse to start, but a playbook can still be written."""
    from ruamel.yaml.error import YAMLError

    from engine.errors import InputLimitError
    from engine.input_limits import load_yaml, read_text

    if not files:
        raise ComposeError("no compose file given")
    env = dict(_dotenv(Path(files[0]).parent / ".env"))
    env.update(environment if environment is not None else os.environ)
    merged: dict[str, Any] = {}
    for file in files:
        try:
            data = load_yaml(read_text(file), str(file), typ="safe")
        except InputLimitError as exc:
            raise ComposeError(str(exc)) from None
        except YAMLError as exc:
            raise ComposeError(f"{file} is not YAML: {exc}") from None
        if data is None:
            continue
        if not isinstance(data, dict) or not isinstance(data.get("services", {}), dict):
            raise ComposeError(f"{file}: expected a mapping with `services:`")
        merged = merge_files(merged, interpolate(data, env, notes))
    if not merged.get("services"):
        raise ComposeError("the compose files define no services")
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


def interpolate(value: Any, env: Mapping[str, str], notes: list[str] | None = None) -> Any:
    """Compose's variable interpolation over every string of a parsed file."""
    if isinstance(value, str):
        return _INTERPOLATION.sub(lambda match: _substitute(match, env, notes), value)
    if isinstance(value, list):
        return [interpolate(item, env, notes) for item in value]
    if isinstance(value, dict):
        return {key: interpolate(item, env, notes) for key, item in value.items()}
    return value


def _substitute(match: re.Match[str], env: Mapping[str, str], notes: list[str] | None) -> str:
    if match.group(0) == "$$":
        return "$"
    expression = match.group("braced") if match.group("braced") is not None else match.group("plain")
    for separator, unset_or_empty in ((":-", True), ("-", False), (":?", True), ("?", False)):
        if separator in expression:
            name, default = expression.split(separator, 1)
            value = env.get(name)
            missing = value is None or (unset_or_empty and value == "")
            if separator.endswith("?"):
                if missing:
                    if notes is not None and f"required variable {name} is not set" not in notes:
                        notes.append(f"required variable {name} is not set")
                    return ""
                return str(value)
            return default if missing else str(value)
    return env.get(expression, "")


def _dotenv(path: Path) -> dict[str, str]:
    if not path.is_file():
        return {}
    values: dict[str, str] = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        name, value = line.split("=", 1)
        values[name.strip().removeprefix("export ").strip()] = value.strip().strip("'\"")
    return values


# --- translation -----------------------------------------------------------------------------


def translate(
    compose: Mapping[str, Any],
    *,
    project: str,
    profiles: Sequence[str] = (),
    source: str = "",
) -> Translation:
    """The playbook for a merged compose document."""
    services: dict[str, Any] = dict(compose.get("services") or {})
    untranslated: list[str] = []
    active = set(profiles)
    included = {
        name: service
        for name, service in services.items()
        if not (service or {}).get("profiles") or active & set(service["profiles"])
    }
    for name in services:
        if name not in included:
            untranslated.append(f"{name}: left out, its profiles {services[name]['profiles']} are not active")
    one_shot = {
        dependency
        for service in included.values()
        for dependency, options in depends_on((service or {}).get("depends_on")).items()
        if options.get("condition") == "service_completed_successfully"
    }
    for name in sorted(one_shot & set(included)):
        untranslated.append(
            f"{name}: a one-shot job (others wait for it to complete successfully); no node, "
            "since a finished job is not a running service"
        )
    checks: dict[str, Any] = {}
    for name, service in included.items():
        if name in one_shot:
            continue
        checks[name] = _node(name, service or {}, included, one_shot, untranslated)
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
    return Translation(project, _escaped(playbook), untranslated)


def _node(
    name: str,
    service: Mapping[str, Any],
    included: Mapping[str, Any],
    one_shot: set[str],
    untranslated: list[str],
) -> dict[str, Any]:
    node: dict[str, Any] = {"description": ""}
    edges = []
    for dependency, options in depends_on(service.get("depends_on")).items():
        if dependency in one_shot:
            continue
        if dependency not in included:
            untranslated.append(f"{name}: depends on {dependency}, which is not included; edge dropped")
            continue
        edges.append(dependency)
        if options.get("condition") not in (None, "service_started", "service_healthy"):
            untranslated.append(
                f"{name}: depends_on {dependency} condition {options['condition']!r} read as an edge"
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
    check_key, check, wait = _check(name, service, reference, untranslated)
    node["description"] = f"compose service {name}: {_describe(check_key, check)}"
    node[check_key] = check
    node["remediate"] = [
        {"name": f"restart {name}", "docker_restart": dict(reference)},
        {"name": f"wait until {name} is healthy", "wait": {"timeout": wait}},
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
    if translation.untranslated:
        header.append("# Not translated:")
        # One comment line each: a line break in a compose value must not end the comment.
        header.extend(f"#   - {_one_line(item)}" for item in translation.untranslated)
    return "\n".join(header) + "\n" + body.getvalue()
