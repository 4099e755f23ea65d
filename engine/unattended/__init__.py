"""Unattended operation: what holds across runs when cron, a systemd timer or the daemon starts
them. `run` wraps one run with locks, limits and recording; `limits` and `maintenance` decide
whether a node may be touched; `locking` keeps two runs off one host; `state/` stores history
(SQLite or PostgreSQL); `notify`, `metrics` and `sdnotify` tell the outside; `schedule` writes
units and crontab lines; `daemon` runs on an interval.

May import: engine.core, engine.playbook, engine.output, engine.secrets, engine.transports.
Never imports engine.cli.
"""
