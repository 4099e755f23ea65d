"""The HTML report (`--report run.html`): one self-contained page, the graph coloured by
outcome and the timeline of nodes and steps; everything on it escaped and masked."""

from __future__ import annotations

import subprocess
import sys
from datetime import datetime
from html.parser import HTMLParser
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from selenium.webdriver.common.by import By

from engine.core.node import Mode, NodeResult, StepRecord
from engine.core.results import Outcome
from engine.output.html_report import OUTCOME_COLOURS, STEP_COLOURS, layered_layout, render_html
from engine.output.report import RunReport
from engine.secrets.redact import REDACTOR
from tests.support.browser import chromium
from tests.support.cli import environment
from tests.support.playbooks import write_playbook

REMEDIATE = str(Path(sys.executable).parent / "remediate")


class Elements(HTMLParser):
    """The tags of a page, the URLs it would load and its text."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: set[str] = set()
        self.loads: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        self.loads += [v or "" for k, v in attrs if k in ("src", "href", "xlink:href") and tag != "a"]

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parse(page: str) -> Elements:
    elements = Elements()
    elements.feed(page)
    return elements


PAGE_TAGS = {"html", "head", "meta", "title", "style", "body", "h1", "h2", "div", "p", "span", "i", "svg"}
PAGE_TAGS |= {"defs", "marker", "path", "g", "rect", "text", "table", "tr", "td"}


def page_for(*nodes: NodeResult, edges: list[tuple[str, str]] | None = None) -> str:
    report = RunReport("r1", "shop", Mode.RUN, datetime(2026, 1, 1), datetime(2026, 1, 1, 0, 0, 2))
    report.nodes = list(nodes)
    report.edges = edges or []
    return render_html(report.to_dict(), report.edges)


def test_a_script_in_a_reason_is_text_not_a_script() -> None:
    page = page_for(NodeResult("h", "db", Outcome.FAILED, "exit 1: <script>alert(1)</script>"))
    assert "<script>" not in page
    assert "script" not in parse(page).tags
    assert "exit 1: <script>alert(1)</script>" in "".join(parse(page).text)


def test_a_secret_in_a_reason_or_a_step_never_appears() -> None:
    step = StepRecord("login", "command", "failed", "curl -H 'Authorization: Bearer x' token=Tk55secretvalue")
    page = page_for(
        NodeResult("h", "db", Outcome.ERROR, "cannot connect to postgresql://app:Hunter2pw@db/app", steps=[step])
    )
    assert "Hunter2pw" not in page and "Tk55secretvalue" not in page
    assert "postgresql://app:***@db/app" in page


@settings(deadline=None)
@given(reason=st.text(), step=st.text(min_size=1), name=st.text(min_size=1))
def test_whatever_the_text_the_page_keeps_its_own_elements_and_shows_the_text(
    reason: str, step: str, name: str
) -> None:
    page = page_for(
        NodeResult("h", name, Outcome.FAILED, reason, steps=[StepRecord(step, "command", "failed", reason)])
    )
    elements = parse(page)
    assert elements.tags <= PAGE_TAGS
    assert elements.loads == []
    assert REDACTOR.text(reason) in "".join(elements.text)


def test_the_page_loads_nothing_from_elsewhere() -> None:
    page = page_for(NodeResult("h", "db", Outcome.HEALTHY, "see http://example.invalid/x.png"))
    assert parse(page).loads == []
    assert "default-src 'none'" in page


def test_layers_follow_the_depth_of_each_node() -> None:
    places = layered_layout(["db", "cache", "api", "web"], [("db", "api"), ("api", "web"), ("cache", "web")])
    assert places == {"db": (0, 0), "cache": (0, 1), "api": (1, 0), "web": (2, 0)}


def test_a_cycle_in_a_hand_edited_report_does_not_hang_the_layout() -> None:
    assert set(layered_layout(["a", "b"], [("a", "b"), ("b", "a")])) == {"a", "b"}


SHOP = """
name: shop
checks:
  db:
    command: {cmd: "test -e {{ marker }}"}
    remediate:
      - name: try the <script>alert(1)</script> way
        command: {cmd: "echo '<script>alert(2)</script> api_token={{ api_token }}'; exit 1"}
      - name: create the marker
        command: {cmd: "sleep 0.2; touch {{ marker }}"}
  api:
    depends_on: [db]
    command: {cmd: "true"}
  web:
    depends_on: [api]
    command: {cmd: "echo '<b>down</b>'; exit 1"}
  search:
    depends_on: [web]
    command: {cmd: "true"}
"""


@pytest.mark.slow
def test_the_page_in_a_real_browser_shows_outcome_colours_and_the_rungs(tmp_path: Path) -> None:
    report = tmp_path / "run.html"
    variables = ["-e", f"marker={tmp_path / 'marker'}", "-e", "api_token=Qv93notforanyone"]
    result = subprocess.run(
        [REMEDIATE, "run", str(write_playbook(tmp_path, SHOP)), "--report", str(report), *variables],
        env=environment(tmp_path / "state.db"),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1, result.stderr
    page = report.read_text()
    assert "Qv93notforanyone" not in page and "<script>" not in page
    with chromium() as browser:
        browser.get(report.as_uri())
        fills = {
            g.get_attribute("data-node"): g.find_element(By.TAG_NAME, "rect").get_attribute("fill")
            for g in browser.find_elements(By.CSS_SELECTOR, "#graph g.node")
        }
        assert fills == {
            "db": OUTCOME_COLOURS["remediated"],
            "api": OUTCOME_COLOURS["healthy"],
            "web": OUTCOME_COLOURS["failed"],
            "search": OUTCOME_COLOURS["blocked"],
        }
        rungs = browser.find_elements(By.CSS_SELECTOR, "#timeline tr.step")
        assert [r.find_element(By.CSS_SELECTOR, "td.name").text for r in rungs] == [
            "↳ try the <script>alert(1)</script> way (command)",
            "↳ create the marker (command)",
        ]
        assert [r.get_attribute("data-status") for r in rungs] == ["failed", "changed"]
        bar = rungs[1].find_element(By.CSS_SELECTOR, ".bar")
        assert bar.value_of_css_property("background-color") == _rgb(STEP_COLOURS["changed"])
        assert "api_token=***" in browser.find_element(By.ID, "timeline").text
        assert len(browser.find_elements(By.CSS_SELECTOR, "svg path.edge")) == 3
        assert browser.execute_script("return document.scripts.length") == 0
        browser.save_screenshot(str(tmp_path / "run.png"))
    assert (tmp_path / "run.png").stat().st_size > 10_000


def _rgb(colour: str) -> str:
    red, green, blue = (int(colour[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgba({red}, {green}, {blue}, 1)"


def test_a_node_is_drawn_beside_its_upstream() -> None:
    places = layered_layout(["cache", "db", "api"], [("db", "api")])
    assert places["api"] == (1, 0) and places["db"] == (0, 1)
    places = layered_layout(["cache", "db", "api", "worker"], [("db", "api"), ("cache", "worker")])
    assert places["worker"][1] < places["api"][1]
