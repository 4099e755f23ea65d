"""One transport per host per run, opened on first use and closed at the end."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from typing import Any

from engine.core.registry import TypeRegistry
from engine.errors import TransportError
from engine.transports.base import Transport

TransportFactory = Callable[[str, Mapping[str, Any]], Transport]
"""Builds a transport for a host name and its variables (``ansible_host``, ``ansible_port``...)."""

TRANSPORT_TYPES: TypeRegistry[TransportFactory] = TypeRegistry("transport", "engine.transports")
"""Transport factories by ``ansible_connection`` value; `engine.transports.MODULES` names the
module of each, imported only when a host asks for it, so that a run on the local host never
pays for paramiko or the docker SDK."""

register_transport = TRANSPORT_TYPES.register
"""Register a factory for ``ansible_connection`` values: ``@register_transport("ssh", "smart")``."""


def connection_type(host: str, hostvars: Mapping[str, Any]) -> str:
    """The connection a host asks for; hosts that name the controller default to ``local``."""
    explicit = hostvars.get("ansible_connection")
    if explicit:
        return str(explicit)
    address = str(hostvars.get("ansible_host", host))
    return "local" if address in ("localhost", "127.0.0.1", "::1") else "ssh"


def factory_for(connection: str) -> TransportFactory:
    """The factory for a connection type, importing its module on first use."""
    try:
        return TRANSPORT_TYPES[connection]
    except ImportError as exc:
        raise TransportError(f"connection {connection!r} is not available: {exc}") from exc
    except KeyError:
        known = ", ".join(TRANSPORT_TYPES)
        raise TransportError(f"unknown connection type {connection!r} (known: {known})") from None


class TransportPool:
    """Hands out the one transport of each host, creating it lazily and thread-safely."""

    def __init__(self, hostvars: Mapping[str, Mapping[str, Any]]) -> None:
        self._hostvars = hostvars
        self._transports: dict[str, Transport] = {}
        self._lock = threading.Lock()

    def get(self, host: str) -> Transport:
        with self._lock:
            transport = self._transports.get(host)
        if transport is not None:
            return transport
        # Built outside the lock: building connects nothing, but resolving a host's settings
        # reads files, and with one lock for the fleet every host's first use queued behind
        # every other's (at 500 hosts, a third of the threads were found waiting here). Two
        # threads of one host may both build; the first one stored is the one used.
        hostvars = self._hostvars.get(host, {})
        built = factory_for(connection_type(host, hostvars))(host, hostvars)
        with self._lock:
            return self._transports.setdefault(host, built)

    def release(self, host: str) -> None:
        """Close the host's transport, if one was opened; a later `get` opens a new one."""
        with self._lock:
            transport = self._transports.pop(host, None)
        if transport is not None:
            transport.close()

    def close(self) -> None:
        with self._lock:
            transports, self._transports = list(self._transports.values()), {}
        for transport in transports:
            transport.close()
