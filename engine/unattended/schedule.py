"""Running on a schedule: a systemd service + timer pair (or a long-lived service running
`remediate daemon`), or a crontab line. The engine takes its own run lock, so none of them
needs flock; a run that finds the lock held exits 3, which the units count as success."""

from __future__ import annotations

import shlex
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path

from engine.core.durations import format_duration


def remediate_executable() -> str:
    """The absolute path of the `remediate` command running now (units need absolute paths)."""
    argv0 = Path(sys.argv[0])
    if argv0.name == "remediate" and argv0.exists():
        return str(argv0.resolve())
    found = shutil.which("remediate")
    return str(Path(found).resolve()) if found else "/usr/local/bin/remediate"


def _seconds_spec(seconds: float) -> str:
    """A systemd time span (``90s``, ``1min 30s``...); whole seconds are enough here."""
    return f"{max(1, round(seconds))}s"


@dataclass
class Units:
    """What the units run: the playbook and the options passed to every run."""

    playbook: str
    name: str = "remediate"
    state: str | None = None
    options: list[str] = field(default_factory=list)
    """Further command-line options (inventory, limit, extra vars...)."""
    executable: str = field(default_factory=remediate_executable)

    def _command(self, *words: str) -> str:
        parts = [self.executable, *words, str(Path(self.playbook).resolve()), *self.options]
        if self.state:
            parts += ["--state", self.state]
        return shlex.join(parts)

    def timer_service(self, timeout: float = 1800) -> str:
        return f"""\
[Unit]
Description=remediate: check and heal ({Path(self.playbook).name})
Wants=network-online.target
After=network-online.target

[Service]
Type=oneshot
ExecStart={self._command("run")} --log-format json
# 3: another run still holds the lock; it is doing the work, so this is no failure.
SuccessExitStatus=3
TimeoutStartSec={_seconds_spec(timeout)}
# SIGTERM to the engine only: it lets an action in flight finish.
KillMode=mixed
"""

    def timer(self, on_calendar: str = "minutely", randomized_delay: float = 10.0) -> str:
        return f"""\
[Unit]
Description=Run {self.name}.service on a schedule ({on_calendar})

[Timer]
OnCalendar={on_calendar}
# Spread hosts that share a schedule, so that they do not all act at once.
RandomizedDelaySec={_seconds_spec(randomized_delay)}
AccuracySec=1s
# Catch up a run missed while the machine was off.
Persistent=true
Unit={self.name}.service

[Install]
WantedBy=timers.target
"""

    def daemon_service(self, interval: float, watchdog: float = 0.0) -> str:
        watchdog_line = f"WatchdogSec={_seconds_spec(watchdog)}\n" if watchdog else ""
        interval_words = ["daemon"]
        command = (
            self._command(*interval_words) + f" --interval {format_duration(interval)} --log-format json"
        )
        return f"""\
[Unit]
Description=remediate daemon: check and heal ({Path(self.playbook).name}) every {format_duration(interval)}
Wants=network-online.target
After=network-online.target

[Service]
Type=notify
NotifyAccess=main
ExecStart={command}
ExecReload=/bin/kill -HUP $MAINPID
{watchdog_line}Restart=on-failure
RestartSec=10s
# SIGTERM to the engine only: it lets an action in flight finish, then exits.
KillMode=mixed
TimeoutStopSec=10min

[Install]
WantedBy=multi-user.target
"""

    def crontab_line(self, every_minutes: int = 1, log: str | None = None, user: str | None = None) -> str:
        """A crontab line (with a user field when `user` is given, for /etc/cron.d)."""
        if every_minutes < 60:
            schedule = "* * * * *" if every_minutes == 1 else f"*/{every_minutes} * * * *"
        else:
            hours = max(1, every_minutes // 60)
            schedule = "0 * * * *" if hours == 1 else f"0 */{hours} * * *"
        redirect = f">>{shlex.quote(log)} 2>&1" if log else ">/dev/null 2>&1"
        who = f" {user}" if user else ""
        return f"{schedule}{who} {self._command('run')} --log-format json {redirect}\n"
