"""The status page in a real headless Chromium (Debian's chromium and chromium-driver,
driven by Selenium) against a real daemon: the graph's colours, a pause button that pauses
the node, and an action refused without the token."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from engine.unattended.state import open_store
from tests.engine.unattended.test_daemon import eventually, runs, stop
from tests.support.browser import chromium
from tests.support.cli import start
from tests.support.playbooks import approval_playbook, write_playbook
from tests.support.services import free_port
from tests.support.web import TOKEN

pytestmark = pytest.mark.slow

BOOK = """
name: shop
checks:
  db: {command: {cmd: "true"}}
  api:
    depends_on: [db]
    command: {cmd: "false"}
    remediate: [{command: {cmd: "false"}}]
"""


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as session:
        yield session


@pytest.fixture
def page(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A daemon serving its page; yields (base URL, state file) once the first run is recorded."""
    state, port = tmp_path / "state.db", free_port()
    token = tmp_path / "token"
    token.write_text(TOKEN)
    token.chmod(0o600)
    book = write_playbook(tmp_path, BOOK)
    daemon: subprocess.Popen[str] = start(
        "daemon", book, "--interval", "1h", "--listen", f"127.0.0.1:{port}", "--token-file", token,
        state=state, cwd=tmp_path,
    )  # fmt: skip
    try:
        eventually(lambda: runs(state) >= 1, "the first run")
        yield f"http://127.0.0.1:{port}", state
    finally:
        stop(daemon)


def paused(state: Path) -> list[str]:
    store = open_store(str(state))
    try:
        return [p.node for p in store.pauses(datetime.now(UTC))]
    finally:
        store.close()


def fill_of(browser: Any, node: str) -> str:
    from selenium.webdriver.common.by import By

    box = browser.find_element(By.CSS_SELECTOR, f'g[data-node="{node}"] rect')
    return str(box.get_attribute("fill"))


def test_the_graph_shows_each_node_in_its_outcome_colour(browser: Any, page: tuple[str, Path]) -> None:
    base, _ = page
    browser.get(base + "/")
    assert fill_of(browser, "db") == "#2e7d32"  # healthy
    assert fill_of(browser, "api") == "#c62828"  # failed


def test_the_pause_button_pauses_the_node_once_signed_in(browser: Any, page: tuple[str, Path]) -> None:
    from selenium.webdriver.common.by import By

    base, state = page
    b = browser
    b.get(base + "/login?next=/nodes/localhost/api")
    b.find_element(By.ID, "token").send_keys(TOKEN)
    b.find_element(By.ID, "login").click()
    b.find_element(By.ID, "pause").click()
    assert b.find_element(By.ID, "done").text == "paused"
    assert paused(state) == ["api"]
    b.get(base + "/")
    box = b.find_element(By.CSS_SELECTOR, 'g[data-node="api"]')
    assert box.get_attribute("data-hold") == "paused"


def test_an_action_without_the_token_is_refused(browser: Any, page: tuple[str, Path]) -> None:
    from selenium.webdriver.common.by import By

    base, state = page
    b = browser
    b.get(base + "/nodes/localhost/api")
    b.delete_all_cookies()  # no session from an earlier test
    b.get(base + "/nodes/localhost/api")
    b.find_element(By.ID, "pause").click()
    assert "refused" in b.find_element(By.ID, "message").text
    assert paused(state) == []


def test_an_approval_approved_from_the_page_heals_the_node_at_once(browser: Any, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By

    healthy, actions = tmp_path / "api.ok", tmp_path / "api.actions"
    book = approval_playbook(tmp_path, f"test -e {healthy}", f"echo run >> {actions}; touch {healthy}")
    state, port = tmp_path / "state.db", free_port()
    token = tmp_path / "token"
    token.write_text(TOKEN)
    token.chmod(0o600)
    daemon: subprocess.Popen[str] = start(
        "daemon", book, "--interval", "1h", "--listen", f"127.0.0.1:{port}", "--token-file", token,
        state=state, cwd=tmp_path,
    )  # fmt: skip
    try:
        eventually(lambda: runs(state) >= 1, "the first run")
        store = open_store(str(state))
        try:
            [pending] = store.approvals(open_only=True)
        finally:
            store.close()
        base, b = f"http://127.0.0.1:{port}", browser
        b.get(base + "/login?next=/nodes/localhost/api")
        b.find_element(By.ID, "token").send_keys(TOKEN)
        b.find_element(By.ID, "login").click()
        row = b.find_element(By.ID, f"approval-{pending.id}")
        assert "restart api" in row.text and "pending" in row.text
        b.find_element(By.ID, f"approve-{pending.id}").click()
        assert b.find_element(By.ID, "done").text.startswith(f"approved {pending.id}")
        eventually(lambda: runs(state) >= 2, "the run the approval asked for")  # not the 1h timer
        eventually(lambda: healthy.exists(), "the node healed")
        assert actions.read_text().split() == ["run"]
        store = open_store(str(state))
        try:
            used = store.approval(pending.id)
            assert used is not None and used.status == "used"
            assert used.answered_by.startswith("status page")
        finally:
            store.close()
    finally:
        stop(daemon)
