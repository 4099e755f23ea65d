"""remediate's engine: playbooks, the check graph, the run loop and the CLI.

Pure logic (durations, backoff, graph, node outcomes) lives in modules that do
no I/O; transports and clients live in `engine.transports`, `checks` and
`remediations`.
"""
