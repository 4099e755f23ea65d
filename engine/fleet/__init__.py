"""A fleet shared by several workers: `remediate worker` (a Celery worker running the
playbook for the hosts its tasks name) and `remediate daemon --broker` (the scheduler: every
interval one task per host group, sent through the broker). The PostgreSQL state store holds
what must be shared: the ticks (scheduled once), the tasks' claims (acted on once), the
workers and the leadership.

`routing`, `groups` and `claims` are pure logic; `broker` reads broker URLs and builds the
Celery application (Celery is imported only here, lazily); `worker` and `scheduler` are the
two processes.

May import: engine.core, engine.playbook, engine.output, engine.secrets, engine.transports,
engine.unattended. Never imports engine.cli or engine.web.
"""
