"""The status page's graph: whatever text the plan and the state store hold, the SVG is
well-formed and shows it as text, never as markup."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from hypothesis import given
from hypothesis import strategies as st

from engine.web.status import NodeStatus
from engine.web.svg import draw, layout

# Any text but control characters and lone surrogates (XML 1.0 cannot carry those at all).
TEXT = st.text(st.characters(blacklist_categories=("Cc", "Cs")), min_size=1, max_size=40)
SVG = "{http://www.w3.org/2000/svg}"


def status(host: str, node: str, reason: str, hold: str | None, ups: list[str]) -> NodeStatus:
    return NodeStatus(host, node, "failed", reason, None, "P1", 1, 3, hold, reason, ups)


@given(host=TEXT, node=TEXT, upstream=TEXT, reason=TEXT, hold=st.none() | TEXT)
def test_any_name_and_reason_is_drawn_as_text(
    host: str, node: str, upstream: str, reason: str, hold: str | None
) -> None:
    up = f"{host}:{upstream}"
    statuses = [status(host, upstream, reason, None, []), status(host, node, reason, hold, [up])]
    if upstream == node:
        statuses = statuses[1:]
    graph = layout([(s.host, s.node, s.depends_on) for s in statuses])
    drawn = ET.fromstring(str(draw(graph, {f"{s.host}:{s.node}": s for s in statuses})))
    groups = {g.get("data-node"): g for g in drawn.iter(f"{SVG}g")}
    assert set(groups) == {s.node for s in statuses}
    shown = groups[node]
    assert shown.get("data-host") == host and shown.get("data-hold") == (hold or "")
    title = shown.find(f"{SVG}title")
    assert title is not None and title.text is not None
    assert title.text.startswith(f"{node} on {host}: failed - {reason}")


def test_a_node_without_a_status_is_drawn_unknown() -> None:
    graph = layout([("h", "db", [])])
    drawn = ET.fromstring(str(draw(graph, {})))
    [group] = drawn.iter(f"{SVG}g")
    assert group.get("data-outcome") == "unknown"
