"""What a run tells people and machines: structured log events (structlog), the lines a
person reads on a terminal, the live progress line, the summary table, the JSON report, and
the rendered graph.

May import: engine.core results and node records, engine.secrets (everything is masked
before it is written). Never imports engine.cli or engine.unattended.
"""
