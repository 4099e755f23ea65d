"""`remediate init --from-compose`: a playbook translated from docker compose files (service
graph, healthchecks, restarts), read as compose reads them. Everything copied from a compose
file is escaped so that it can never become a template.

May import: engine.errors, engine.input_limits, engine.playbook.render. Nothing imports it
but the command line.
"""
