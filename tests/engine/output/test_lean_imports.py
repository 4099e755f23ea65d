"""Libraries imported without the extras they would load eagerly (engine.output.lean_imports)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from engine.output.lean_imports import import_without
from tests.support.fixtures import FIXTURES


@pytest.fixture
def library(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A library `lib_under_test` that uses `extra_under_test` when it is installed."""
    (tmp_path / "extra_under_test.py").write_text("LOADED = True\n")
    (tmp_path / "lib_under_test.py").write_text(
        "try:\n    import extra_under_test\nexcept ImportError:\n    extra_under_test = None\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path
    for name in ("lib_under_test", "extra_under_test"):
        sys.modules.pop(name, None)


def test_the_library_takes_its_path_for_a_missing_extra(library: Path) -> None:
    module = import_without("lib_under_test", "extra_under_test")
    assert module.extra_under_test is None
    assert "extra_under_test" not in sys.modules


def test_the_extra_can_still_be_imported_afterwards(library: Path) -> None:
    import_without("lib_under_test", "extra_under_test")
    import extra_under_test  # type: ignore[import-not-found]

    assert extra_under_test.LOADED


def test_an_extra_someone_already_loaded_stays_visible(library: Path) -> None:
    import extra_under_test  # type: ignore[import-not-found]  # noqa: F401

    assert import_without("lib_under_test", "extra_under_test").extra_under_test is not None


def test_a_run_off_a_terminal_loads_neither_rich_nor_invoke() -> None:
    code = (
        "import sys, engine.output.logs, engine.transports.ssh, engine.output.report\n"
        "engine.output.logs.configure('json')\n"
        "print(sorted(m for m in ('rich', 'invoke', 'attr', 'pygments') if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_validating_a_playbook_does_not_scan_installed_distributions_for_pydantic_plugins() -> None:
    # Any scan fails loudly: entry_points is replaced before pydantic's plugin loader binds it.
    code = (
        "import importlib.metadata as metadata\n"
        "def scan(*args, **kwargs): raise AssertionError('entry points scanned')\n"
        "metadata.entry_points = scan\n"
        "from engine.core.planning import plan_run\n"
        "from inventory import Inventory\n"
        "plan_run(sys.argv[1], Inventory.localhost(), extra_vars=dict(api_port=1, db_port=2, "
        "web_port=3, start_db='a', restart_api='b', restart_web='c'))\n"
    )
    demo = FIXTURES / "playbooks" / "demo.yml"
    result = subprocess.run(
        [sys.executable, "-c", "import sys\n" + code, str(demo)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
