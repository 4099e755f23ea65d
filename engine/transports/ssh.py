"""Commands and connections on a remote host over one SSH connection (paramiko).

One connection per host per run, opened on first use and shared by every check and action
of the host: each command is a new *channel* on it, never a new connection. Services bound
to the remote loopback are reached through ``direct-tcpip`` channels (``connect_tcp``,
``local_endpoint``), the remote Docker engine through ``docker system dial-stdio`` on the
same connection (``docker_base_url``).

How a host is reached comes from its inventory variables, as Ansible reads them, and from
``~/.ssh/config`` as OpenSSH reads it (explicit inventory variables win):

=====================================  =================================================
``ansible_host``, ``ansible_port``,     address, port and login (``ansible_ssh_host`` ...
``ansible_user``                        aliases too); else ``HostName``/``Port``/``User``
``ansible_ssh_private_key_file``        a private key; ``IdentityFile`` entries, the SSH
                                        agent (``remediate_ssh_agent``) and
                                        ``~/.ssh/id_*`` (``remediate_ssh_look_for_keys``)
``ansible_ssh_common_args``,            ``-J`` / ``-o ProxyJump=...`` jump hosts; else
``ansible_ssh_extra_args``              ``ProxyJump`` from the ssh config
``ansible_become``,                     run every command through sudo as that user
``ansible_become_user``                 (``run(..., sudo=True)`` does it for one command)
``remediate_become_password_env``,      the sudo password, read with ``read_secret``
``remediate_become_password_file``
``remediate_known_hosts``               known_hosts file(s) besides ``~/.ssh/known_hosts``
                                        and ``/etc/ssh/ssh_known_hosts``
``remediate_ssh_connect_timeout``       seconds for TCP connect, banner and
(or ``ansible_timeout``)                authentication (default 10)
``remediate_ssh_keepalive``             seconds between keepalives (default 15, 0: off)
``remediate_ssh_max_sessions``          concurrent commands per connection (default 8;
                                        OpenSSH's ``MaxSessions`` is 10)
``remediate_ssh_config``                the ssh config file (default ``~/.ssh/config``)
``remediate_ssh_key_passphrase_env``,   passphrase of encrypted private keys
``remediate_ssh_key_passphrase_file``
=====================================  =================================================

Host keys are always verified: an unknown or changed key refuses the connection with a
message saying how to accept the key; nothing is ever added silently.
"""

from __future__ import annotations

import contextlib
import getpass
import hmac
import logging
import os
import re
import select
import shlex
import shutil
import socket
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar, cast

from engine.output.lean_imports import import_without

# Without invoke: it is loaded only for a config with `Match exec` (_read_ssh_config).
import_without("paramiko", "invoke")

import paramiko  # noqa: E402  # this module is imported only when a host uses SSH
import paramiko.config  # noqa: E402
import paramiko.hostkeys  # noqa: E402

from engine.clients.sizes import READ_CHUNK, HeadTail  # noqa: E402
from engine.errors import SecretError, TransportError  # noqa: E402
from engine.output.logs import get_logger  # noqa: E402
from engine.secrets.sources import read_secret  # noqa: E402
from engine.transports.base import Command, CommandResult  # noqa: E402
from engine.transports.pool import register_transport  # noqa: E402

log = get_logger(name="remediate.ssh")


class _QuietChannelRefusals(logging.Filter):
    """paramiko logs every refused channel at ERROR; this transport retries refused sessions
    and reports refused forwards itself, so those lines would only alarm operators."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "open FAILED" not in record.getMessage()


logging.getLogger("paramiko.transport").addFilter(_QuietChannelRefusals())

DEFAULT_CONNECT_TIMEOUT = 10.0
DEFAULT_KEEPALIVE = 15
DEFAULT_MAX_SESSIONS = 8
# A command that outlives its timeout is killed on the remote side by coreutils/busybox
# `timeout`, which signals the command's whole process group; the channel is abandoned only
# if the host does not answer within this grace period after that.
KILL_GRACE = 5.0
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_TRUE = {"1", "true", "yes", "on", "y", "t"}


# -- settings -------------------------------------------------------------------------------


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
    # Held while parsing: the hosts that ask at the same moment wait for one parse.
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


# -- host keys ------------------------------------------------------------------------------


def _known_name(hop: Hop) -> str:
    return hop.address if hop.port == 22 else f"[{hop.address}]:{hop.port}"


@dataclass
class _KnownHosts:
    """A known_hosts file indexed for a fleet: plain host names in a dict, hashed ones
    (``|1|salt|hash``, OpenSSH's HashKnownHosts) and wildcard patterns (``*.example.com``,
    ``!bad.example.com``) tried one by one. paramiko's HostKeys compares the name with every
    entry on each lookup and every entry with every other on loading: quadratic in the
    file's length, an HMAC per comparison for hashed entries.

    ``@revoked`` lines are honoured: their keys are refused for the hosts they name, whatever
    other line lists them. ``@cert-authority`` lines are skipped (host certificates are not
    verified), as is any line paramiko cannot read; neither affects other hosts."""

    plain: dict[str, list[tuple[int, paramiko.PKey]]] = field(default_factory=dict)
    hashed: list[tuple[int, str, paramiko.PKey]] = field(default_factory=list)
    patterns: list[tuple[int, list[str], paramiko.PKey]] = field(default_factory=list)
    revoked: list[tuple[int, list[str], paramiko.PKey]] = field(default_factory=list)

    def keys_for(self, name: str) -> list[paramiko.PKey]:
        """The keys listed for ``name``, in the file's order (revoked ones included: see
        ``revoked_for``)."""
        found = list(self.plain.get(name, []))
        for line, hashed, key in self.hashed:
            if _hashed_match(name, hashed):
                found.append((line, key))
        found += [(line, key) for line, names, key in self.patterns if _host_matches(name, names)]
        return [key for _, key in sorted(found, key=lambda item: item[0])]

    def revoked_for(self, name: str) -> list[tuple[int, paramiko.PKey]]:
        """The keys an ``@revoked`` line refuses for ``name``, with their lines."""
        return [(line, key) for line, names, key in self.revoked if _host_matches(name, names)]


def _hashed_match(name: str, hashed: str) -> bool:
    return hmac.compare_digest(paramiko.HostKeys.hash_host(name, hashed), hashed)


def _host_matches(name: str, patterns: list[str]) -> bool:
    """OpenSSH's rule for a known_hosts line: some pattern matches the name (``*`` and ``?``
    wildcards, case-insensitively) and no negated pattern (``!pattern``) does."""
    name, matched = name.lower(), False
    for pattern in patterns:
        if pattern.startswith("|1|"):
            hit, negated = _hashed_match(name, pattern), False
        else:
            negated = pattern.startswith("!")
            # Only * and ? are special: `[host]:port` brackets are literal, unlike in fnmatch.
            wildcard = re.escape(pattern.removeprefix("!").lower()).replace(r"\*", ".*").replace(r"\?", ".")
            hit = re.fullmatch(wildcard, name) is not None
        if hit and negated:
            return False
        matched = matched or hit
    return matched


def _read_known_hosts(path: str) -> _KnownHosts:
    known = _KnownHosts()
    with open(path) as lines:
        for number, line in enumerate(lines, 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            marker = ""
            if line.startswith("@"):
                marker, _, line = line.partition(" ")
                line = line.strip()
            if marker not in ("", "@revoked"):
                continue  # @cert-authority: host certificates are not verified
            try:
                entry = paramiko.hostkeys.HostKeyEntry.from_line(line, number)
            except Exception:
                # A line paramiko cannot read (InvalidHostKey, an unknown key type, bad
                # base64) is skipped, as OpenSSH skips it, for every host.
                continue
            if entry is None or entry.key is None:
                continue
            if marker == "@revoked":
                known.revoked.append((number, list(entry.hostnames), entry.key))
                continue
            names = list(entry.hostnames)
            if any(c in name for name in names for c in "*?!"):
                known.patterns.append((number, names, entry.key))
                continue
            for name in names:
                if name.startswith("|1|"):
                    known.hashed.append((number, name, entry.key))
                else:
                    known.plain.setdefault(name, []).append((number, entry.key))
    return known


def _parsed_known_hosts(path: str) -> _KnownHosts | None:
    try:
        return _parsed_once("known hosts", path, _read_known_hosts)
    except (OSError, UnicodeDecodeError):  # missing or unreadable: as if absent
        return None


def _private_key(path: str, passphrase: str | None) -> paramiko.PKey | None:
    """The private key in ``path`` (with its ``-cert.pub`` certificate), loaded once; None
    when it cannot be loaded here, and paramiko then tries the file itself and says why."""
    try:
        return _parsed_once("private key", path, lambda p: paramiko.PKey.from_path(p, passphrase))
    except Exception:  # unreadable, encrypted without a passphrase, an unknown type
        return None


def _add_known_keys(client: paramiko.SSHClient, hop: Hop, files: tuple[str, ...]) -> None:
    """Give the client the known keys of this hop only. Files are read in order, so a key
    in the file named by ``remediate_known_hosts`` (last) wins over a stale one of the same
    type in ``~/.ssh/known_hosts``."""
    name = _known_name(hop)
    known = client.get_host_keys()
    revoked = {key.asbytes() for _, _, key in _revoked_keys(hop, files)}
    for path in files:
        known_hosts = _parsed_known_hosts(path)
        for key in known_hosts.keys_for(name) if known_hosts is not None else []:
            if key.asbytes() not in revoked:
                known.add(name, key.get_name(), key)


def _revoked_keys(hop: Hop, files: tuple[str, ...]) -> list[tuple[str, int, paramiko.PKey]]:
    """(file, line, key) of every ``@revoked`` line naming this hop."""
    revoked = []
    for path in files:
        known_hosts = _parsed_known_hosts(path)
        if known_hosts is not None:
            revoked += [(path, line, key) for line, key in known_hosts.revoked_for(_known_name(hop))]
    return revoked


def _fingerprint(key: Any) -> str:
    fingerprint = getattr(key, "fingerprint", None)
    return str(fingerprint) if fingerprint else key.get_fingerprint().hex()


def _keyscan_hint(hop: Hop) -> str:
    port = f"-p {hop.port} " if hop.port != 22 else ""
    return f"ssh-keyscan {port}{hop.address} >> ~/.ssh/known_hosts"


def _unknown_key_message(hop: Hop, key: Any, files: tuple[str, ...], checking_off: str = "") -> str:
    for path, line, revoked in _revoked_keys(hop, files):
        if revoked.asbytes() == key.asbytes():
            return (
                f"host key of {_known_name(hop)} ({key.get_name()} {_fingerprint(key)}) is "
                f"REVOKED ({path}:{line}); refusing to connect"
            )
    ignored = (
        f" ({checking_off} was ignored: remediate always verifies host keys, because an "
        "unattended run that acts as root on the host cannot notice an impostor)"
        if checking_off
        else ""
    )
    return (
        f"host key of {_known_name(hop)} is not known ({key.get_name()} {_fingerprint(key)}); "
        f"refusing to connect. Checked: {', '.join(files)}. If that fingerprint is right, "
        f"accept the key with `{_keyscan_hint(hop)}` (or add it to the file named by "
        f"remediate_known_hosts){ignored}"
    )


def _changed_key_message(hop: Hop, exc: Any) -> str:
    return (
        f"host key of {_known_name(hop)} has CHANGED (now {exc.key.get_name()} "
        f"{_fingerprint(exc.key)}, known as {_fingerprint(exc.expected_key)}); refusing to "
        "connect: someone may be intercepting the connection. If the host was reinstalled, "
        f"remove the old key with `ssh-keygen -R '{_known_name(hop)}'` (in the known_hosts "
        f"file that holds it) and accept the new one with `{_keyscan_hint(hop)}`"
    )


# -- the transport --------------------------------------------------------------------------


class SSHTransport:
    """A host reached over SSH. Construction is free; the connection opens on first use,
    once, under a lock, and every later command or forwarded connection is a channel on it.
    A host that cannot be reached raises `TransportError`, now and for the rest of the run,
    so that its other checks fail fast instead of each waiting for the connect timeout."""

    def __init__(self, host: str, settings: SSHSettings) -> None:
        self.host = host
        self.settings = settings
        self._lock = threading.Lock()
        self._sessions = threading.BoundedSemaphore(max(1, settings.max_sessions))
        self._clients: list[paramiko.SSHClient] = []
        self._failure: str | None = None
        self._closed = False
        self._forwarders: dict[tuple[str, int] | str, _Forwarder] = {}
        self._sudo_password: str | None = None
        self.connections_opened = 0
        """How many SSH connections this transport opened (1 in a healthy run)."""

    # -- connection ---------------------------------------------------------------------

    def _transport(self) -> paramiko.Transport:
        with self._lock:
            if self._closed:
                raise TransportError(f"{self.host}: transport is closed")
            if self._failure:
                raise TransportError(self._failure)
            transport = self._clients[-1].get_transport() if self._clients else None
            if transport is not None and transport.is_active():
                return transport
            self._close_clients()
            try:
                return self._connect()
            except TransportError as exc:
                self._close_clients()
                self._failure = str(exc)
                raise

    def _connect(self) -> paramiko.Transport:
        settings, started = self.settings, time.monotonic()
        passphrase = self._secret(settings.key_passphrase_env, settings.key_passphrase_file, "key passphrase")
        hops = [*settings.jumps, settings.target]
        sock: Any = None
        for index, hop in enumerate(hops):
            via = f" via {hops[index - 1]}" if index else ""
            if index == 0:
                sock = self._tcp(hop)
            else:
                previous = self._clients[-1].get_transport()
                assert previous is not None
                try:
                    sock = previous.open_channel(
                        "direct-tcpip",
                        (hop.address, hop.port),
                        ("127.0.0.1", 0),
                        timeout=settings.connect_timeout,
                    )
                except (paramiko.SSHException, OSError, EOFError) as exc:
                    raise TransportError(
                        f"{self.host}: cannot reach {hop.address}:{hop.port}"
                        f"{via}: {exc or type(exc).__name__}"
                    ) from exc
            client = paramiko.SSHClient()
            _add_known_keys(client, hop, settings.known_hosts)
            client.set_missing_host_key_policy(
                _RefuseUnknownKey(hop, settings.known_hosts, settings.ignored_checking_off)
            )
            self._clients.append(client)
            keys = list(dict.fromkeys([*hop.key_files, *settings.target.key_files]))
            # The first key is handed over loaded (parsed once for the whole fleet);
            # paramiko tries it first, then the other files.
            first_key = _private_key(keys[0], passphrase) if keys else None
            try:
                client.connect(
                    hop.address,
                    hop.port,
                    username=hop.user,
                    sock=sock,
                    pkey=first_key,
                    transport_factory=_transport_offering_gcm_first,
                    # paramiko takes a list of key files; its type stubs say one string.
                    key_filename=cast(Any, keys[1:] if first_key else keys) or None,
                    passphrase=passphrase,
                    allow_agent=settings.allow_agent,
                    look_for_keys=settings.look_for_keys,
                    timeout=settings.connect_timeout,
                    banner_timeout=settings.connect_timeout,
                    auth_timeout=settings.connect_timeout,
                    channel_timeout=settings.connect_timeout,
                )
            except _HostKeyRefused as exc:
                raise TransportError(f"{self.host}: {exc}") from None
            except paramiko.BadHostKeyException as exc:
                raise TransportError(f"{self.host}: {_changed_key_message(hop, exc)}") from None
            except paramiko.AuthenticationException as exc:
                tried = ", ".join(keys) or "no key files"
                agent = " and the SSH agent" if settings.allow_agent else ""
                raise TransportError(
                    f"{self.host}: authentication as {hop.user} on {hop.address}:{hop.port}"
                    f"{via} failed ({exc}); tried {tried}{agent}"
                ) from None
            except (paramiko.SSHException, OSError, EOFError) as exc:
                raise TransportError(
                    f"{self.host}: SSH to {hop}{via} failed: {exc or type(exc).__name__}"
                ) from None
        transport = self._clients[-1].get_transport()
        assert transport is not None
        if settings.keepalive > 0:
            for client in self._clients:
                inner = client.get_transport()
                if inner is not None:
                    inner.set_keepalive(settings.keepalive)
        self.connections_opened += 1
        log.debug(
            "ssh connected",
            host=self.host,
            target=str(settings.target),
            jumps=[str(j) for j in settings.jumps],
            seconds=round(time.monotonic() - started, 3),
        )
        return transport

    def _tcp(self, hop: Hop) -> socket.socket:
        try:
            sock = socket.create_connection((hop.address, hop.port), timeout=self.settings.connect_timeout)
        except TimeoutError:
            raise TransportError(
                f"{self.host}: cannot connect to {hop.address}:{hop.port}: "
                f"no answer within {self.settings.connect_timeout:g}s"
            ) from None
        except OSError as exc:
            raise TransportError(
                f"{self.host}: cannot connect to {hop.address}:{hop.port}: {exc.strerror or exc}"
            ) from None
        # paramiko does not disable Nagle's algorithm; without this every small request
        # (a command, a channel open) waits for the delayed ACK, about 40 ms each.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if _TCP_QUICKACK is None:
            return sock
        quick = _QuickAckSocket(sock.family, sock.type, sock.proto, sock.detach())
        quick.settimeout(self.settings.connect_timeout)
        return quick

    def _secret(self, env: str | None, file: str | None, what: str) -> str | None:
        if not env and not file:
            return None
        try:
            return read_secret(env=env, file=file)
        except SecretError as exc:
            raise TransportError(f"{self.host}: cannot read the {what}: {exc}") from None

    def _channel(self, kind: str, *args: Any, timeout: float | None = None) -> paramiko.Channel:
        transport = self._transport()
        try:
            if kind == "session":
                return self._session(transport)
            return transport.open_channel(
                kind, dest_addr=args[0], src_addr=args[1], timeout=timeout or self.settings.connect_timeout
            )
        except paramiko.ChannelException as exc:
            if kind == "direct-tcpip":
                host, port = args[0]
                raise ConnectionRefusedError(
                    f"{self.host}: cannot connect to {host}:{port} from the host: {exc.text or exc}"
                ) from None
            raise TransportError(f"{self.host}: the server refused a channel: {exc}") from None
        except (paramiko.SSHException, OSError, EOFError) as exc:
            raise TransportError(f"{self.host}: SSH connection lost: {exc or type(exc).__name__}") from None

    def _session(self, transport: paramiko.Transport) -> paramiko.Channel:
        """A session channel. The server counts a session until it has processed our close
        of the previous one, so at its MaxSessions limit a new one is briefly refused: retry
        for a little while before giving up."""
        deadline = time.monotonic() + self.settings.connect_timeout
        pause = 0.005
        while True:
            try:
                return transport.open_session(timeout=self.settings.connect_timeout)
            except paramiko.ChannelException:
                if time.monotonic() + pause > deadline:
                    raise
                time.sleep(pause)
                pause = min(pause * 2, 0.2)

    # -- commands -----------------------------------------------------------------------

    def run(
        self,
        command: Command,
        *,
        timeout: float,
        env: Mapping[str, str] | None = None,
        stdin: str | None = None,
        sudo: bool = False,
    ) -> CommandResult:
        """Run a command on the host; at ``timeout`` its whole process group is killed
        there. With ``sudo`` (or ``ansible_become``) it runs as ``ansible_become_user``;
        when sudo cannot start it (no password configured, a wrong one), `TransportError`."""
        script = command if isinstance(command, str) else shlex.join(command)
        for name, value in (env or {}).items():
            if not _ENV_NAME.match(name):
                raise ValueError(f"invalid environment variable name {name!r}")
            script = f"export {name}={shlex.quote(value)}; {script}"
        limit = max(timeout, 0.001)
        remote = f"timeout -s KILL {limit:.3f} sh -c {shlex.quote(script)}"
        become = (sudo or self.settings.become) and not (
            self.settings.target.user == "root" and self.settings.become_user == "root"
        )
        if stdin is None and not become:
            # End of file on stdin comes from the host, not from our EOF packet: a command that
            # finishes at once may have its channel freed by the server before that packet
            # arrives, and OpenSSH drops the whole connection for an EOF on a freed channel.
            remote += " </dev/null"
        marker = prompt = ""
        if become:
            token = os.urandom(8).hex()
            marker, prompt = f"REMEDIATE-BECOME-{token}", f"[remediate sudo {token}] password:"
            remote = (
                f"sudo -H -S -p {shlex.quote(prompt)} -u "
                f"{shlex.quote(self.settings.become_user)} -- sh -c "
                f"{shlex.quote(f'echo {marker}; exec {remote}')}"
            )
        with self._sessions:
            started = time.monotonic()
            channel = self._started(remote)
            try:
                return self._exchange(channel, stdin, limit, started, marker, prompt)
            except (OSError, EOFError) as exc:
                raise TransportError(
                    f"{self.host}: SSH connection lost during a command: {exc or type(exc).__name__}"
                ) from None
            finally:
                channel.close()

    def _started(self, remote: str) -> paramiko.Channel:
        """A session running ``remote``. A connection found dead before the command started
        (the host rebooted, a NAT forgot it) is opened again once: the command did not run,
        so trying it on a new connection is safe. A live connection whose server refuses
        the session (at its MaxSessions limit, it counts sessions until it has processed
        our close of earlier ones) is kept, and the session asked for again shortly:
        closing it would kill every other command running on it."""
        deadline = time.monotonic() + self.settings.connect_timeout
        pause = 0.005
        reconnected = False
        while True:
            transport = self._transport()
            channel = None
            try:
                channel = self._session(transport)
                channel.exec_command(remote)
                return channel
            except paramiko.ChannelException as exc:
                raise TransportError(f"{self.host}: the server refused a session: {exc}") from None
            except (paramiko.SSHException, OSError, EOFError) as exc:
                if channel is not None:
                    channel.close()
                if transport.is_active():
                    if time.monotonic() + pause > deadline:
                        raise TransportError(
                            f"{self.host}: the server refused a session: {exc or type(exc).__name__}"
                        ) from None
                    time.sleep(pause)
                    pause = min(pause * 2, 0.2)
                    continue
                self._forget(transport)
                if reconnected:
                    raise TransportError(
                        f"{self.host}: SSH connection lost: {exc or type(exc).__name__}"
                    ) from None
                reconnected = True
                log.debug("ssh connection lost; reconnecting", host=self.host, error=str(exc))

    def _forget(self, transport: paramiko.Transport) -> None:
        """Drop a dead connection so that the next use opens a new one (unless another
        thread already did)."""
        with self._lock:
            if self._clients and self._clients[-1].get_transport() is transport:
                self._close_clients()

    def _exchange(
        self,
        channel: paramiko.Channel,
        stdin: str | None,
        timeout: float,
        started: float,
        marker: str,
        prompt: str,
    ) -> CommandResult:
        stderr = HeadTail()
        reader = threading.Thread(target=_drain_stderr, args=(channel, stderr), daemon=True)
        reader.start()
        early = bytearray()  # what came before sudo's marker line, and after it
        deadline = started + timeout + KILL_GRACE
        if marker:
            problem = self._become(channel, early, stderr, marker, prompt, deadline)
            if problem:
                # The command never ran: that is no answer about the host's health, so it
                # must not look like a failed command (a check reports an error instead).
                raise TransportError(f"{self.host}: {problem}")
        stdout = HeadTail()
        stdout.write(early)
        if stdin is not None or marker:
            if stdin:
                channel.sendall(stdin.encode())
            channel.shutdown_write()
        timed_out = False
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                timed_out = True
                break
            channel.settimeout(remaining)
            try:
                chunk = channel.recv(READ_CHUNK)
            except TimeoutError:
                timed_out = True
                break
            if not chunk:
                break
            stdout.write(chunk)
        if not timed_out:
            channel.status_event.wait(max(0.0, deadline - time.monotonic()))
            timed_out = not channel.exit_status_ready()
        reader.join(0 if timed_out else 2)
        duration = time.monotonic() - started
        status = channel.exit_status if channel.exit_status_ready() else -1
        # `timeout -s KILL` kills the group, itself included: the host reports the signal
        # (paramiko: -1) or the shell's 128+9.
        if timed_out or (status in (-1, 137) and duration >= timeout):
            timed_out, status = True, -9
        text_err = stderr.text()
        if prompt:
            text_err = text_err.replace(prompt, "")
        return CommandResult(status, stdout.text(), text_err, duration, timed_out)

    def _become(
        self,
        channel: paramiko.Channel,
        stdout: bytearray,
        stderr: HeadTail,
        marker: str,
        prompt: str,
        deadline: float,
    ) -> str | None:
        """Wait until sudo has started the command (its marker line on stdout), answering
        one password prompt on the way; the reason when it could not."""
        sent = False
        expected = (marker + "\n").encode()
        while time.monotonic() < deadline:
            if channel.recv_ready():
                stdout += channel.recv(65536)
            if stdout.startswith(expected):
                del stdout[: len(expected)]
                return None
            if len(stdout) >= len(expected):
                return f"sudo did not start the command: {stdout.decode(errors='replace')}"
            prompts = stderr.text().count(prompt)
            if sent and prompts > 1:  # sudo asks again: the password was wrong
                return f"sudo as {self.settings.become_user} refused the password"
            if prompts and not sent:
                password = self._become_password()
                if password is None:
                    return (
                        f"sudo as {self.settings.become_user} needs a password: set "
                        "remediate_become_password_env or remediate_become_password_file"
                    )
                channel.sendall((password + "\n").encode())
                sent = True
            if channel.exit_status_ready() and not channel.recv_ready():
                error = stderr.text().replace(prompt, "").strip()
                return f"sudo as {self.settings.become_user} failed: {error}"
            time.sleep(0.002)
        return f"sudo as {self.settings.become_user} did not start the command in time"

    def _become_password(self) -> str | None:
        if self._sudo_password is None:
            self._sudo_password = self._secret(
                self.settings.become_password_env, self.settings.become_password_file, "become password"
            )
        return self._sudo_password

    # -- connections through the host ---------------------------------------------------

    def connect_tcp(self, host: str, port: int, *, timeout: float) -> socket.socket:
        """A socket connected to host:port as the remote host sees it (a direct-tcpip
        channel, relayed through a local socket pair)."""
        channel = self._channel("direct-tcpip", (host, port), ("127.0.0.1", 0), timeout=timeout)
        ours, theirs = socket.socketpair()
        threading.Thread(
            target=_relay, args=(theirs, channel), daemon=True, name=f"ssh-relay-{self.host}"
        ).start()
        ours.settimeout(timeout)
        return ours

    def local_endpoint(self, host: str, port: int) -> tuple[str, int]:
        """A port on the controller's loopback forwarded to host:port as the remote host
        sees it; one listener per target, each accepted connection its own channel."""
        self._transport()  # an unreachable host fails here, not in the client library
        with self._lock:
            forwarder = self._forwarders.get((host, port))
            if forwarder is None:
                forwarder = _Forwarder.tcp(
                    lambda: self._channel("direct-tcpip", (host, port), ("127.0.0.1", 0)),
                    f"{self.host}->{host}:{port}",
                )
                self._forwarders[(host, port)] = forwarder
        return forwarder.address  # type: ignore[return-value]

    def docker_base_url(self) -> str:
        """A ``unix://`` URL for ``docker.DockerClient(base_url=...)`` that reaches the
        host's Docker engine over this SSH connection. Each connection the client makes
        runs ``docker system dial-stdio`` on the host (its docker CLI, as the SSH user, or
        through ``sudo -n`` when ``ansible_become`` is set). The socket lives in a private
        directory of the controller, because the Docker API has no authentication."""
        self._transport()
        command = "docker system dial-stdio"
        settings = self.settings
        if settings.become and not (settings.target.user == "root" and settings.become_user == "root"):
            command = f"sudo -n -u {shlex.quote(settings.become_user)} -- {command}"

        def open_stdio() -> paramiko.Channel:
            channel = self._channel("session")
            channel.exec_command(command)
            return channel

        with self._lock:
            forwarder = self._forwarders.get("docker")
            if forwarder is None:
                forwarder = _Forwarder.unix(open_stdio, f"{self.host}->docker")
                self._forwarders["docker"] = forwarder
        return f"unix://{forwarder.address}"

    def close(self) -> None:
        """Stop forwarding and close the connection (and its jump hosts); idempotent."""
        with self._lock:
            self._closed = True
            forwarders, self._forwarders = list(self._forwarders.values()), {}
            self._close_clients()
        for forwarder in forwarders:
            forwarder.close()

    def _close_clients(self) -> None:
        for client in reversed(self._clients):
            client.close()
        self._clients = []


_GCM_CIPHERS = ("aes128-gcm@openssh.com", "aes256-gcm@openssh.com")


def _transport_offering_gcm_first(sock: Any, /, **options: Any) -> paramiko.Transport:
    """A paramiko transport that offers AES-GCM before its other ciphers. paramiko lists GCM
    last, after AES-CTR with an HMAC whose every packet it checks in pure Python (a
    byte-by-byte constant-time comparison, a good share of a short connection's CPU); with
    GCM, OpenSSL authenticates the packets. Servers without GCM still get the others."""
    transport = paramiko.Transport(sock, **options)
    security = transport.get_security_options()
    offered = tuple(security.ciphers)
    security.ciphers = tuple(dict.fromkeys([*(c for c in _GCM_CIPHERS if c in offered), *offered]))
    return transport


_TCP_QUICKACK: int | None = getattr(socket, "TCP_QUICKACK", None)  # Linux only


class _QuickAckSocket(socket.socket):
    """A TCP socket that acknowledges what it receives at once. Right after authentication
    OpenSSH holds a small packet (the confirmation of our first channel) until we have
    acknowledged the one before it (Nagle's algorithm on its side), and Linux delays that
    acknowledgement by up to 40 ms: the first command on every connection took 40 ms longer
    than the rest. Quick-ack mode does not stick, so it is set again after every read."""

    def recv(self, bufsize: int, flags: int = 0) -> bytes:
        data = super().recv(bufsize, flags)
        if data:
            self.setsockopt(socket.IPPROTO_TCP, cast(int, _TCP_QUICKACK), 1)
        return data


class _HostKeyRefused(Exception):
    pass


class _RefuseUnknownKey(paramiko.MissingHostKeyPolicy):
    """Refuses hosts whose key is in no known_hosts file, saying how to accept it."""

    def __init__(self, hop: Hop, files: tuple[str, ...], checking_off: str = "") -> None:
        self.hop, self.files, self.checking_off = hop, files, checking_off

    def missing_host_key(self, client: Any, hostname: str, key: Any) -> None:
        raise _HostKeyRefused(_unknown_key_message(self.hop, key, self.files, self.checking_off))


# -- relaying bytes between local sockets and channels ----------------------------------------


def _drain_stderr(channel: paramiko.Channel, into: HeadTail) -> None:
    with contextlib.suppress(OSError, EOFError, paramiko.SSHException):
        while True:
            chunk = channel.recv_stderr(READ_CHUNK)
            if not chunk:
                return
            into.write(chunk)


def _relay(sock: socket.socket, channel: paramiko.Channel) -> None:
    """Copy bytes both ways until both sides are done; half-closes are passed on."""
    open_sides: set[Any] = {sock, channel}
    try:
        while open_sides:
            readable, _, _ = select.select(list(open_sides), [], [], 5.0)
            if channel.closed and channel not in readable and not channel.recv_ready():
                return
            for side in readable:
                if side is sock:
                    data = sock.recv(65536)
                    if data:
                        channel.sendall(data)
                    else:
                        open_sides.discard(sock)
                        channel.shutdown_write()
                else:
                    # The channel's poll descriptor also fires for stderr (a command such
                    # as `docker system dial-stdio` may write some): drain that, and never
                    # block in recv() when only stderr was ready.
                    while channel.recv_stderr_ready():
                        channel.recv_stderr(65536)
                    if channel.recv_ready():
                        sock.sendall(channel.recv(65536))
                    elif channel.eof_received or channel.closed:
                        open_sides.discard(channel)
                        with contextlib.suppress(OSError):
                            sock.shutdown(socket.SHUT_WR)
    except (OSError, EOFError, paramiko.SSHException):
        pass  # either side went away: the other one is closed below
    finally:
        channel.close()
        sock.close()


class _Forwarder:
    """A local listening socket whose every connection is relayed to a new channel."""

    def __init__(
        self,
        listener: socket.socket,
        opener: Callable[[], paramiko.Channel],
        name: str,
        cleanup: Path | None = None,
    ) -> None:
        self._listener, self._opener, self._cleanup = listener, opener, cleanup
        self.address: tuple[str, int] | str = listener.getsockname()
        self._closed = False
        threading.Thread(target=self._accept, daemon=True, name=f"ssh-forward-{name}").start()

    @classmethod
    def tcp(cls, opener: Callable[[], paramiko.Channel], name: str) -> _Forwarder:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.bind(("127.0.0.1", 0))
        listener.listen(64)
        return cls(listener, opener, name)

    @classmethod
    def unix(cls, opener: Callable[[], paramiko.Channel], name: str) -> _Forwarder:
        folder = Path(tempfile.mkdtemp(prefix="remediate-ssh-"))  # mode 0700: ours alone
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(str(folder / "docker.sock"))
        listener.listen(64)
        return cls(listener, opener, name, cleanup=folder)

    def _accept(self) -> None:
        while not self._closed:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        try:
            channel = self._opener()
        except (OSError, EOFError, TransportError, paramiko.SSHException) as exc:
            log.debug("ssh forward refused", error=str(exc))
            conn.close()
            return
        if conn.family == socket.AF_INET:
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        _relay(conn, channel)

    def close(self) -> None:
        self._closed = True
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)
        self._listener.close()
        if self._cleanup is not None:
            shutil.rmtree(self._cleanup, ignore_errors=True)


@register_transport("ssh", "paramiko", "smart")
def ssh_transport(host: str, hostvars: Mapping[str, Any]) -> SSHTransport:
    """The transport factory: resolves settings, does not connect."""
    return SSHTransport(host, ssh_settings(host, hostvars))
