"""The daemon's web side (`remediate daemon --listen`): the status page (the check graph as
SVG coloured by each node's last outcome, a page per node, the last runs as a timeline),
its JSON API, the operator's actions (pause, resume, reset, run now: token and CSRF
protected), `/metrics`, and `POST /hooks/alertmanager` (alerts that start runs).

`tokens` reads the tokens and signs sessions; `alerts` reads Alertmanager's webhook and maps
alerts to nodes; `status` gathers what the pages show from the plan and the state store
(masked); `svg` lays the graph out once per plan and draws it per request; `app` is the
Starlette application and its uvicorn server. Starlette, uvicorn and Jinja2 (with its
MarkupSafe) are imported only here.

May import: engine.core, engine.playbook, engine.secrets, engine.errors, engine.unattended
(the state store, limits and metrics; the daemon only through the `Controller` protocol).
Never imports engine.cli; neither the core nor engine.unattended imports it.
"""
