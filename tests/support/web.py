"""The status page served for real (uvicorn on a loopback port) over a plan and a state
store, with a stand-in for the daemon that records the runs asked for; and a small HTTP
client that does not follow redirects."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.core.graph import NodeKey
from engine.core.planning import RunPlan
from engine.output.logs import QuietLogger
from engine.web.app import StoreAccess, Web, WebServer, application

TOKEN = "operator-token-0123456789abcdef"
HOOK_TOKEN = "alertmanager-token-0123456789abcdef"


@dataclass
class FakeDaemon:
    """What the web side sees of the daemon; `requested` lists each request_run call."""

    plan: RunPlan | None
    incident_dir: Path
    latest: Any = None
    logger: Any = field(default_factory=QuietLogger)
    starts_runs: bool = True
    requested: list[tuple[set[NodeKey] | None, str]] = field(default_factory=list)

    def request_run(self, keys: set[NodeKey] | None, trigger: str) -> bool:
        self.requested.append((keys, trigger))
        return True


@contextmanager
def served(
    daemon: FakeDaemon, state: str | None, token: str | None = TOKEN, hook_token: str | None = HOOK_TOKEN
) -> Iterator[str]:
    """The page on a free loopback port; yields its base URL."""
    web = Web(daemon, StoreAccess(state), token, hook_token)
    server = WebServer(application(web), "127.0.0.1", 0, web.store.close).start()
    try:
        yield f"http://127.0.0.1:{server.address[1]}"
    finally:
        server.shutdown()


@dataclass
class Answer:
    status: int
    body: str
    headers: dict[str, str]

    def json(self) -> Any:
        return json.loads(self.body)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirect)


def http(
    url: str,
    data: bytes | dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
) -> Answer:
    """GET (or POST `data`: bytes as given, a dict as a form) without following redirects."""
    body = urllib.parse.urlencode(data).encode() if isinstance(data, dict) else data
    request = urllib.request.Request(url, data=body, headers=headers or {})
    try:
        with _OPENER.open(request, timeout=30) as response:
            return Answer(response.status, response.read().decode(), dict(response.headers))
    except urllib.error.HTTPError as error:
        return Answer(error.code, error.read().decode(), dict(error.headers))
