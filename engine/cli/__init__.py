"""The command line, one module per command group: `app` (the group, run, check, validate,
graph, schema, and the one error handler), `unattended` (pause, resume, reset, history,
status), `service` (daemon, systemd, cron), `init`, `lab`; `options` holds the options and
helpers they share and imports none of them.

May import every other room; nothing imports it. Engine modules are imported inside the
commands, so that `--help` stays fast.
"""

from engine.cli.app import main

__all__ = ["main"]
