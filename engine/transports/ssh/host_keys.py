"""Host keys: known_hosts files (hashed names, wildcards, ``@revoked``), the policy that
refuses an unknown key, and the messages that say how to accept or replace one."""

from __future__ import annotations

import hmac
import re
from dataclasses import dataclass, field
from typing import Any

import paramiko
import paramiko.hostkeys

from engine.transports.ssh.settings import Hop, _parsed_once


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


class _KeysOfHost(dict[str, paramiko.PKey]):
    """A host's known keys by type, as paramiko's connect reads a lookup (`keys()` a list,
    the first the type it asks the server for)."""

    def keys(self) -> list[str]:  # type: ignore[override]
        return list(super().keys())


class _HostKeys:
    """The known keys a client looks a server up in, in place of paramiko's HostKeys, whose
    lookup defines a class (an abstract mapping) on every call: two per connection, each a
    few KB of cyclic garbage that only a full collection frees, and at hundreds of hosts
    full collections are rare. Holds exact names only: the files' patterns and hashed
    names were matched when they were read (`_KnownHosts`)."""

    def __init__(self) -> None:
        self._by_name: dict[str, _KeysOfHost] = {}

    def add(self, hostname: str, keytype: str, key: paramiko.PKey) -> None:
        """Know `key` for `hostname`; it replaces a key of the same type added before."""
        self._by_name.setdefault(hostname, _KeysOfHost())[keytype] = key

    def get(self, hostname: str) -> _KeysOfHost | None:
        return self._by_name.get(hostname)


class _KnownHostsClient(paramiko.SSHClient):
    """A paramiko client that knows the keys it is given, and only those."""

    def __init__(self, known: _HostKeys) -> None:
        super().__init__()
        # paramiko's connect looks the server up in both.
        self._system_host_keys = _HostKeys()
        self._host_keys = known


def known_hosts_client(hop: Hop, files: tuple[str, ...], checking_off: str = "") -> paramiko.SSHClient:
    """A paramiko client for `hop` that knows the hop's keys from the known_hosts `files`
    and refuses a key it does not know (`_RefuseUnknownKey`). Files are read in order, so a
    key in the file named by ``remediate_known_hosts`` (last) wins over a stale one of the
    same type in ``~/.ssh/known_hosts``."""
    name = _known_name(hop)
    known = _HostKeys()
    revoked = {key.asbytes() for _, _, key in _revoked_keys(hop, files)}
    for path in files:
        known_hosts = _parsed_known_hosts(path)
        for key in known_hosts.keys_for(name) if known_hosts is not None else []:
            if key.asbytes() not in revoked:
                known.add(name, key.get_name(), key)
    client = _KnownHostsClient(known)
    client.set_missing_host_key_policy(_RefuseUnknownKey(hop, files, checking_off))
    return client


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


class _HostKeyRefused(Exception):
    pass


class _RefuseUnknownKey(paramiko.MissingHostKeyPolicy):
    """Refuses hosts whose key is in no known_hosts file, saying how to accept it."""

    def __init__(self, hop: Hop, files: tuple[str, ...], checking_off: str = "") -> None:
        self.hop, self.files, self.checking_off = hop, files, checking_off

    def missing_host_key(self, client: Any, hostname: str, key: Any) -> None:
        raise _HostKeyRefused(_unknown_key_message(self.hop, key, self.files, self.checking_off))
