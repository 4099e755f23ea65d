"""`remediate init --from-compose`: write a starting playbook from docker compose files."""

from __future__ import annotations

import sys
from pathlib import Path

import click

INIT_EXAMPLES = """\b
Examples:
  remediate init --from-compose docker-compose.yml > site.yml
  remediate init -f docker-compose.yml -f docker-compose.prod.yml -o site.yml
  remediate init -f docker-compose.yml --profile monitoring --project coffeestudio -o site.yml
  remediate validate site.yml
"""


@click.command(epilog=INIT_EXAMPLES)
@click.option(
    "--from-compose",
    "-f",
    "files",
    multiple=True,
    required=True,
    type=click.Path(dir_okay=False),
    help="compose file; repeat to merge several in order, as docker compose -f does",
)
@click.option(
    "--profile",
    "profiles",
    multiple=True,
    help="activate a compose profile (repeatable), in addition to those in COMPOSE_PROFILES",
)
@click.option(
    "--project",
    "-p",
    help="compose project name; default: COMPOSE_PROJECT_NAME, else the files' `name:`, "
    "else the directory's name",
)
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False),
    help="write the playbook here (refuses to overwrite); default: standard output",
)
def init(files: tuple[str, ...], profiles: tuple[str, ...], project: str | None, output: str | None) -> None:
    """Write a starting playbook from docker compose files.

    One node per service, `depends_on` as edges, the healthcheck run in the container (or
    a TCP check of the first published port, or the container running), and a restart
    for each. What could not be translated is listed on standard error and at the top of
    the playbook.
    """
    from engine.compose.importer import (
        active_profiles,
        load_compose,
        project_environment,
        project_name,
        render,
        translate,
    )

    notes: list[str] = []
    env = project_environment(files[0])
    compose = load_compose(files, env, notes=notes)  # a ComposeError exits 2 (engine.errors)
    name = project_name(project, compose, env, files[0])
    translation = translate(compose, project=name, profiles=active_profiles(profiles, env))
    translation.untranslated[:0] = notes
    text = render(translation, [Path(f).name for f in files])
    for item in translation.untranslated:
        click.echo(f"not translated: {item}", err=True)
    if output is None:
        click.echo(text, nl=False)
        return
    target = Path(output)
    if target.exists():
        raise click.ClickException(f"{output} exists; not overwriting it")
    target.write_text(text)
    nodes = len(translation.playbook["checks"])
    click.echo(
        f"wrote {output}: {nodes} node(s), {len(translation.untranslated)} thing(s) not translated", err=True
    )
    sys.exit(0)

