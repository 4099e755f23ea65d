"""remediate's engine, in rooms. Each room's package docstring says what it holds and what it
may import; a test (tests/test_import_graph.py) keeps the rules and forbids import cycles.

    errors.py       the one error tree; each error knows its exit status (a leaf)
    exit_codes.py   the exit statuses, documented for cron and systemd (a leaf)
    kit.py          what a check or action type imports from the engine
    input_limits.py bounded reading of files from outside (playbooks, inventories, -e)
    core/           pure logic and the run loop: durations, backoff, graph, node, runner
    playbook/       the language: models, loading with positions, templates, schema
    output/         what a run tells: structured logs, progress, summary, report
    secrets/        masking secrets everywhere, reading them from files and variables
    transports/     how commands reach a host: local, SSH, docker exec
    clients/        Docker, HTTP, PostgreSQL and Redis clients shared by the types
    unattended/     cron, systemd and the daemon: limits, locks, state, notify, metrics
    compose/        `remediate init`: a playbook from a docker compose file
    lab/            a CoffeeStudio-shaped stack on the local Docker engine
    cli/            the command line, one module per command group
"""
