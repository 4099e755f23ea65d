"""The core: pure logic and the run loop. Durations, backoff, the dependency graph, the node
state machine (check, act, re-check, retry), run planning and the runner that walks the
graph with a pool of transports.

May import: engine.errors, engine.playbook, engine.output, engine.secrets, engine.transports,
checks.base and remediations.base. Never imports engine.cli, engine.unattended, engine.lab
or engine.compose: those rooms build on the core, not the other way round. Unattended
behaviour (limits, pauses) reaches a run through the `hooks.Gate` it is handed.
"""
