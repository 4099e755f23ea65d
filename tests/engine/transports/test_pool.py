"""Connection types: found by ``ansible_connection``, their modules imported only when used."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

import engine.transports
import engine.transports.pool
from engine.transports import MODULES, TransportError, TransportPool
from engine.transports.local import LocalTransport
from engine.transports.pool import TRANSPORT_TYPES, factory_for


@pytest.mark.parametrize("connection", sorted(MODULES))
def test_every_listed_connection_type_is_registered_by_its_module(connection: str) -> None:
    factory = factory_for(connection)
    module = f"engine.transports.{MODULES[connection]}"
    assert factory.__module__ == module or factory.__module__.startswith(f"{module}.")
    assert TRANSPORT_TYPES[connection] is factory


def test_an_unknown_connection_type_names_the_known_ones() -> None:
    with pytest.raises(TransportError) as raised:
        factory_for("telnet")
    assert (
        str(raised.value) == "unknown connection type 'telnet' (known: docker, kubernetes, local, paramiko, smart, ssh)"
    )


def test_a_connection_type_whose_module_cannot_be_imported_is_not_available(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(engine.transports.MODULES, "winrm", "no_such_winrm_module")
    with pytest.raises(TransportError, match="connection 'winrm' is not available: No module named"):
        factory_for("winrm")


def test_the_pool_gives_a_local_host_a_working_local_transport() -> None:
    pool = TransportPool({"localhost": {}})
    try:
        transport = pool.get("localhost")
        assert isinstance(transport, LocalTransport)
        assert pool.get("localhost") is transport
        assert transport.run(["echo", "hello"], timeout=10).stdout.strip() == "hello"
    finally:
        pool.close()


def test_a_local_run_never_imports_paramiko_or_the_docker_sdk() -> None:
    code = (
        "import sys; from engine.transports import TransportPool; "
        "TransportPool({'localhost': {}}).get('localhost'); "
        "print(sorted(m for m in ('paramiko', 'docker', 'engine.transports.ssh') if m in sys.modules))"
    )
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert output.strip() == "[]"


def test_importing_the_transports_package_imports_no_connection_module() -> None:
    code = (
        "import sys, engine.transports; "
        "print(sorted(m for m in sys.modules if m.startswith('engine.transports.') "
        "and m not in ('engine.transports.base', 'engine.transports.pool')))"
    )
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert output.strip() == "[]"


def test_a_host_whose_transport_is_slow_to_build_holds_up_no_other_host(monkeypatch: pytest.MonkeyPatch) -> None:
    # Resolving a host's settings reads files; at 500 hosts one lock around it made every
    # host's first use wait for all the others'.
    release = threading.Event()

    def factory(host: str, hostvars: Mapping[str, Any]) -> LocalTransport:
        if host == "slow":
            release.wait(10)
        return LocalTransport(host)

    monkeypatch.setattr(engine.transports.pool, "factory_for", lambda connection: factory)
    pool = TransportPool({"slow": {}, "fast": {}})
    slow = threading.Thread(target=pool.get, args=("slow",))
    slow.start()
    try:
        got: list[object] = []
        fast = threading.Thread(target=lambda: got.append(pool.get("fast")))
        fast.start()
        fast.join(5)
        assert len(got) == 1 and isinstance(got[0], LocalTransport)
    finally:
        release.set()
        slow.join(10)
        pool.close()


def test_a_host_gets_one_transport_however_many_threads_ask_at_once() -> None:
    pool = TransportPool({"localhost": {}})
    try:
        with ThreadPoolExecutor(8) as threads:
            transports = list(threads.map(lambda _: pool.get("localhost"), range(32)))
        assert {id(transport) for transport in transports} == {id(pool.get("localhost"))}
    finally:
        pool.close()
