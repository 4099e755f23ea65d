"""Exit statuses, for cron and systemd (documented in the README and `--help`)."""

OK = 0
"""Every node is healthy at the end (remediated and skipped count as healthy)."""
PROBLEMS = 1
"""Some node failed, is blocked or errored, or is unhealthy and held back from remediation
(suppressed, backoff, paused, starting); in dry-run or `check`, remediation would be needed."""
INVALID = 2
"""Invalid input (playbook, inventory, variables, arguments): nothing was run."""
LOCKED = 3
"""Another run holds the lock for these hosts: nothing was run."""
STOPPED_BY_SIGNAL = 128
"""Plus the signal's number (130 SIGINT, 129 SIGHUP, 143 SIGTERM): the run was stopped, its
commands in flight killed, the rest of the graph not checked (see `engine.core.stopping`)."""


def stopped_by(signum: int) -> int:
    """The exit status of a run stopped by this signal, as a shell reports a killed command."""
    return STOPPED_BY_SIGNAL + signum


HELP = """\b
Exit status:
  0  every node healthy at the end (remediated counts as healthy)
  1  some node failed, blocked or errored, or is unhealthy and held back
     (suppressed, backoff, paused, starting); with --dry-run or `check`,
     remediation would be needed
  2  invalid input (playbook, inventory, variables): nothing was run
  3  another run holds the lock for these hosts: nothing was run
  128+N  stopped by signal N (130 SIGINT, 129 SIGHUP, 143 SIGTERM): the
     action in flight was killed and recorded interrupted, no further
     node was checked, the lock was released"""
