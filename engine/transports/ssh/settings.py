"""How one host is reached over SSH: its inventory variables, as Ansible reads them, and
``~/.ssh/config``, as OpenSSH reads it (jump hosts included), resolved into `SSHSettings`."""

from __future__ import annotations

import getpass
import os
import re
import shlex
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar, cast

import paramiko
import paramiko.config

from engine.errors import TransportError

DEFAULT_CONNECT_TIMEOUT = 10.0
DEFAULT_KEEPALIVE = 15
DEFAULT_MAX_SESSIONS = 8
_TRUE = {"1", "true", "yes", "on", "y", "t"}


@dataclass(frozen=True)
class Hop:
    """One SSH server on the way to the host (jump hosts first, the host last)."""

    address: str
    port: int
    user: str
    key_files: tuple[str, ...] = ()

    def __str__(self) -> str:
        return f"{self.user}@{self.address}:{self.port}"


@dataclass(frozen=True)
class SSHSettings:
    """How to reach one host, resolved from its inventory variables and the ssh config."""

    host: str
    target: Hop
    jumps: tuple[Hop, ...] = ()
    known_hosts: tuple[str, ...] = ()
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT
    keepalive: int = DEFAULT_KEEPALIVE
    max_sessions: int = DEFAULT_MAX_SESSIONS
    allow_agent: bool = True
    look_for_keys: bool = True
    become: bool = False
    become_user: str = "root"
    become_password_env: str | None = None
    become_password_file: str | None = None
    key_passphrase_env: str | None = None
    key_passphrase_file: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)
    ignored_checking_off: str = ""
    """Where the host asked to turn host key checking off (``StrictHostKeyChecking=no``,
    ``ansible_host_key_checking: false``), which is ignored; said when a key is refused."""


def as_bool(value: Any) -> bool:
    """A boolean as Ansible reads one (``yes``, ``true``, ``1``, ``on`` ...)."""
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in _TRUE


def _first(hostvars: Mapping[str, Any], *names: str) -> Any:
    for name in names:
        value = hostvars.get(name)
        if value not in (None, ""):
            return value
    return None


_Parsed = TypeVar("_Parsed")
_PARSED_FILES: dict[tuple[str, str], tuple[tuple[int, int], Any]] = {}
_PARSED_FILES_LOCK = threading.Lock()


def _parsed_once(kind: str, path: str, parse: Callable[[str], _Parsed]) -> _Parsed:
    """``parse(path)``, once per process while the file is unchanged (same mtime and size):
    a fleet shares one ssh config, one known_hosts file and one key, and parsing them again
    for each of a hundred hosts would cost more than connecting to them. Raises OSError when
    the file cannot be read; a parse that raises is not remembered."""
    stat = os.stat(path)
    stamp = (stat.st_mtime_ns, stat.st_size)
    key = (kind, path)
    # Held while parsing: the hosts that ask at the same moment wait for one parse. Held for
    # lookups too, which paces a fleet's connections as they start: looked up without it, all
    # 500 hosts of a cold run began their key exchange at once, which raised the run's peak
    # memory by 10-15 MB and its system time by a fifth or more (measured on two cores).
    with _PARSED_FILES_LOCK:
        cached = _PARSED_FILES.get(key)
        if cached is not None and cached[0] == stamp:
            return cast(_Parsed, cached[1])
        value = parse(path)
        _PARSED_FILES[key] = (stamp, value)
        return value


_MATCH_EXEC = re.compile(r"^\s*match\b.*\bexec\b", re.IGNORECASE | re.MULTILINE)


def _read_ssh_config(path: str) -> paramiko.SSHConfig:
    text = Path(path).read_text()
    if _MATCH_EXEC.search(text) and getattr(paramiko.config, "invoke", None) is None:
        import invoke  # paramiko was imported without it (engine.output.lean_imports)

        setattr(paramiko.config, "invoke", invoke)  # noqa: B010  # not in paramiko's stubs
    return paramiko.SSHConfig.from_text(text)


def _ssh_config(hostvars: Mapping[str, Any]) -> Any:
    path = os.path.expanduser(str(hostvars.get("remediate_ssh_config") or "~/.ssh/config"))
    try:
        return _parsed_once("ssh config", path, _read_ssh_config)
    except FileNotFoundError:
        return paramiko.SSHConfig()
    except Exception as exc:  # a broken ssh config is the operator's to fix; say where
        raise TransportError(f"cannot read ssh config {path}: {exc}") from exc


def _proxy_jump_from_args(args: str) -> str | None:
    """The ProxyJump in ssh arguments (``-J x``, ``-o ProxyJump=x``, ``-oProxyJump x``)."""
    tokens = shlex.split(args)
    for index, token in enumerate(tokens):
        following = tokens[index + 1] if index + 1 < len(tokens) else ""
        if token == "-J":
            return following
        if token.startswith("-J"):
            return token[2:]
        option = following if token == "-o" else token[2:] if token.startswith("-o") else ""
        name, _, value = option.replace(" ", "=", 1).partition("=")
        if name.lower() == "proxyjump":
            return value
        if name.lower() == "proxycommand":
            raise TransportError(
                "ProxyCommand in ansible_ssh_common_args is not supported; use ProxyJump "
                "(-o ProxyJump=user@bastion)"
            )
    return None


def _checking_turned_off(hostvars: Mapping[str, Any], entry: Mapping[str, Any]) -> str:
    """Which setting asks not to check host keys, if any (ignored, but named when a key is
    refused, so that the user sees why the setting had no effect)."""
    if "ansible_host_key_checking" in hostvars and not as_bool(hostvars["ansible_host_key_checking"]):
        return "ansible_host_key_checking: false"
    for args in ("ansible_ssh_common_args", "ansible_ssh_extra_args"):
        tokens = shlex.split(str(hostvars.get(args) or ""))
        for token in tokens:
            # `-o X=no` and `-oX=no`: the option is the token after `-o`, or the token itself
            option = token.removeprefix("-o")
            name, _, value = option.replace(" ", "=", 1).partition("=")
            if name.lower() == "stricthostkeychecking" and value.lower() in ("no", "off", "accept-new"):
                return f"StrictHostKeyChecking={value} in {args}"
    if str(entry.get("stricthostkeychecking", "")).lower() in ("no", "off", "accept-new"):
        return f"StrictHostKeyChecking {entry['stricthostkeychecking']} in the ssh config"
    return ""


def _parse_jump(spec: str, config: Any, default_user: str) -> Hop:
    spec = spec.removeprefix("ssh://")
    user, _, rest = spec.rpartition("@")
    name, port = rest, None
    match = re.match(r"^\[(.+)\]:(\d+)$", rest) or re.match(r"^([^:]+):(\d+)$", rest)
    if match:
        name, port = match.group(1), int(match.group(2))
    entry = config.lookup(name)
    return Hop(
        address=entry.get("hostname", name),
        port=port or int(entry.get("port", 22)),
        user=user or entry.get("user") or default_user,
        key_files=tuple(_existing(entry.get("identityfile", []))),
    )


def _existing(paths: list[str]) -> list[str]:
    return [str(Path(p).expanduser()) for p in paths if Path(p).expanduser().is_file()]


def ssh_settings(host: str, hostvars: Mapping[str, Any]) -> SSHSettings:
    """Resolve how to reach ``host``: inventory variables first, then the ssh config."""
    config = _ssh_config(hostvars)
    name = str(_first(hostvars, "ansible_host", "ansible_ssh_host") or host)
    entry = config.lookup(name)
    local_user = getpass.getuser()
    user = str(_first(hostvars, "ansible_user", "ansible_ssh_user") or entry.get("user") or local_user)
    explicit_key = _first(hostvars, "ansible_ssh_private_key_file", "ansible_private_key_file")
    keys = [str(Path(str(explicit_key)).expanduser())] if explicit_key else []
    keys += [k for k in _existing(entry.get("identityfile", [])) if k not in keys]
    port = _first(hostvars, "ansible_port", "ansible_ssh_port") or entry.get("port") or 22
    target = Hop(entry.get("hostname", name), int(port), user, tuple(keys))

    jump_spec = None
    for args in ("ansible_ssh_common_args", "ansible_ssh_extra_args"):
        if hostvars.get(args):
            jump_spec = _proxy_jump_from_args(str(hostvars[args])) or jump_spec
    jump_spec = jump_spec or entry.get("proxyjump")
    jumps: tuple[Hop, ...] = ()
    if jump_spec and jump_spec.lower() != "none":
        jumps = tuple(_parse_jump(s.strip(), config, local_user) for s in jump_spec.split(",") if s.strip())

    known = hostvars.get("remediate_known_hosts") or []
    known_list = [known] if isinstance(known, str) else [str(k) for k in known]
    known_hosts = [
        "~/.ssh/known_hosts",
        "/etc/ssh/ssh_known_hosts",
        *entry.get("userknownhostsfile", "").split(),
        *known_list,
    ]
    method = str(hostvars.get("ansible_become_method") or "sudo")
    if as_bool(hostvars.get("ansible_become", False)) and method != "sudo":
        raise TransportError(f"become method {method!r} is not supported over SSH (only sudo)")
    timeout = _first(hostvars, "remediate_ssh_connect_timeout", "ansible_timeout")
    keepalive = hostvars.get("remediate_ssh_keepalive", DEFAULT_KEEPALIVE)
    return SSHSettings(
        host=host,
        target=target,
        jumps=jumps,
        known_hosts=tuple(str(Path(p).expanduser()) for p in known_hosts if p),
        connect_timeout=float(timeout or DEFAULT_CONNECT_TIMEOUT),
        keepalive=int(keepalive),
        max_sessions=int(hostvars.get("remediate_ssh_max_sessions") or DEFAULT_MAX_SESSIONS),
        allow_agent=as_bool(hostvars.get("remediate_ssh_agent", True)),
        look_for_keys=as_bool(hostvars.get("remediate_ssh_look_for_keys", True)),
        become=as_bool(hostvars.get("ansible_become", False)),
        become_user=str(hostvars.get("ansible_become_user") or "root"),
        become_password_env=hostvars.get("remediate_become_password_env"),
        become_password_file=hostvars.get("remediate_become_password_file"),
        key_passphrase_env=hostvars.get("remediate_ssh_key_passphrase_env"),
        key_passphrase_file=hostvars.get("remediate_ssh_key_passphrase_file"),
        ignored_checking_off=_checking_turned_off(hostvars, entry),
    )
