"""The check graph as text, Graphviz dot or Mermaid."""

from __future__ import annotations

import json

from engine.core.graph import NodeKey
from engine.core.planning import RunPlan


def render(plan: RunPlan, output_format: str) -> str:
    """The plan's graph in `text`, `dot` or `mermaid`."""
    many_hosts = len(plan.hosts) > 1

    def name(key: NodeKey) -> str:
        return str(key) if many_hosts else key.node

    order = plan.order()
    edges = sorted(plan.graph.edges)
    if output_format == "dot":
        lines = ["digraph remediate {", "  rankdir=LR;"]
        lines += [
            f"  {json.dumps(name(k))} [label={json.dumps(f'{name(k)} ({plan.specs[k].check.type_key})')}];"
            for k in order
        ]
        lines += [f"  {json.dumps(name(u))} -> {json.dumps(name(d))};" for u, d in edges]
        return "\n".join([*lines, "}"]) + "\n"
    if output_format == "mermaid":
        ids = {key: f"n{index}" for index, key in enumerate(order)}
        lines = ["graph LR"]
        lines += [f'  {ids[k]}["{name(k)} ({plan.specs[k].check.type_key})"]' for k in order]
        lines += [f"  {ids[u]} --> {ids[d]}" for u, d in edges]
        return "\n".join(lines) + "\n"
    lines = []
    for key in order:
        spec = plan.specs[key]
        upstream = sorted(name(u) for u in plan.graph.predecessors(key))
        after = f"  <- {', '.join(upstream)}" if upstream else ""
        steps = f", {len(spec.remediate)} step(s)" if spec.remediate else ""
        # A looped node says which item it is, so the expansion can be read back to the playbook.
        items = "".join(f", {var}={value}" for var, value in spec.loop_vars.items())
        lines.append(f"{name(key)} ({spec.check.type_key}{steps}{items}){after}")
    return "\n".join(lines) + "\n"
