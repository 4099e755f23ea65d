"""The status page, its API, the operator's actions and the Alertmanager hook, as one
Starlette application served by uvicorn in a thread of the daemon.

Reading is open to whoever reaches the address. Acting needs the operator's token: sent as
`Authorization: Bearer TOKEN` (scripts), or exchanged at `/login` for a signed session
cookie (HttpOnly, SameSite=Strict) whose forms carry a CSRF token. The hook needs
Alertmanager's own token. Every page is rendered by Jinja2 with autoescape, and every text
from the state store is masked (`REDACTOR`) before it is shown.
"""

from __future__ import annotations

import contextlib
import json
import math
import socket
import sqlite3
import threading
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TypeVar

import jinja2
import psycopg
from markupsafe import Markup
from pydantic import ValidationError
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from engine.core.clock import SystemClock
from engine.core.graph import NodeKey
from engine.core.planning import RunPlan
from engine.errors import ApprovalError, StateStoreError
from engine.fleet.summary import FleetSummary, fleet_summary
from engine.secrets.redact import REDACTOR
from engine.unattended import limits
from engine.unattended.state import StateStore, open_store
from engine.web import status as status_module
from engine.web.alerts import MAX_BODY, AlertRouter, Webhook
from engine.web.svg import Layout, draw, layout
from engine.web.tokens import Sessions, bearer, same

SESSION_COOKIE = "remediate_session"
ACTIONS = ("pause", "resume", "reset", "run", "approve", "deny")
MAX_FORM = 16 * 1024
NEXT_TICK = "a fleet's workers act at its next tick (remediate daemon --broker schedules them)"

T = TypeVar("T")


class Controller(Protocol):
    """What the web side needs of the daemon (engine.unattended.daemon.Daemon is one)."""

    plan: RunPlan | None
    latest: Any
    incident_dir: Path
    logger: Any
    @property
    def starts_runs(self) -> bool:
        """False for a fleet's scheduler: its workers run the nodes at the next tick."""
        ...

    def request_run(self, keys: set[NodeKey] | None, trigger: str) -> bool: ...


_STORE_ERRORS: tuple[type[Exception], ...] = (StateStoreError, sqlite3.Error, psycopg.Error, OSError)
"""What a store that cannot be reached raises (a bug in a page is not one: it is a 500)."""


class StoreDown(Exception):
    """The state store did not answer; the page says so, the daemon goes on."""


@dataclass
class StoreAccess:
    """The web side's own connection to the state store, opened on first use and opened
    again after a failure (a database that restarts comes back by itself)."""

    location: str | None
    _store: StateStore | None = None
    _mutex: threading.Lock = field(default_factory=threading.Lock)

    def use(self, work: Callable[[StateStore], T]) -> T:
        """`work` done with the store; StoreDown when the store cannot be opened or fails
        (the connection is dropped and opened again next time)."""
        try:
            with self._mutex:
                if self._store is None:
                    self._store = open_store(self.location)
                store = self._store
            return work(store)
        except _STORE_ERRORS as exc:
            with self._mutex:
                broken, self._store = self._store, None
            if broken is not None:
                with contextlib.suppress(Exception):  # already gone
                    broken.close()
            raise StoreDown(REDACTOR.text(str(exc)) or type(exc).__name__) from exc

    def close(self) -> None:
        with self._mutex:
            if self._store is not None:
                self._store.close()
                self._store = None


@dataclass
class Snapshot:
    """Every node's status and the last runs, gathered once for one plan and one state of the
    store (its change marker), with what was made of them (the graph, the API's body)."""

    plan: RunPlan
    marker: object
    taken: float
    """time.monotonic() when gathered."""
    playbook: str
    statuses: list[status_module.NodeStatus]
    runs: list[dict[str, Any]]
    graph: Layout
    fleet: FleetSummary | None
    """The workers and the last tick when a fleet (remediate worker) shares the store."""
    made: dict[str, Any] = field(default_factory=dict)

    def memo(self, name: str, make: Callable[[], T]) -> T:
        """`make()`, once per snapshot (two requests at once may both make it: same result)."""
        if name not in self.made:
            self.made[name] = make()
        found: T = self.made[name]
        return found


@dataclass
class Web:
    """The application's state: the daemon, the store, the tokens."""

    controller: Controller
    store: StoreAccess
    token: str | None = None
    hook_token: str | None = None
    router: AlertRouter = field(default_factory=AlertRouter)
    clock: SystemClock = field(default_factory=SystemClock)

    def __post_init__(self) -> None:
        self.sessions = Sessions(self.token) if self.token else None
        self.templates = jinja2.Environment(
            loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
        )
        self.templates.globals["colour"] = status_module.colour
        self._view: tuple[status_module.PlanView, Layout] | None = None
        self._view_mutex = threading.Lock()
        self._snapshot: Snapshot | None = None
        self._snapshot_mutex = threading.Lock()

    @property
    def log(self) -> Any:
        return self.controller.logger

    def plan(self) -> RunPlan:
        plan = self.controller.plan
        if plan is None:
            raise StoreDown("the daemon has not loaded its playbook yet")
        return plan

    def view(self) -> tuple[status_module.PlanView, Layout]:
        """The plan's view and the graph's layout, made again only when the daemon reloads
        its plan (both depend on nothing a request or a run changes)."""
        plan = self.plan()
        with self._view_mutex:
            if self._view is None or self._view[0].plan is not plan:
                view = status_module.plan_view(plan)
                graph = layout([(key.host, key.node, view.depends_on[key]) for key in view.order])
                self._view = (view, graph)
            return self._view

    # --- rendering ---------------------------------------------------------------------

    def page(self, request: Request, template: str, status_code: int = 200, **values: Any) -> HTMLResponse:
        cookie = request.cookies.get(SESSION_COOKIE)
        signed_in = self.sessions is not None and self.sessions.nonce(cookie) is not None
        csrf = self.sessions.csrf(cookie) if self.sessions is not None else ""
        html = self.templates.get_template(template).render(
            signed_in=signed_in, csrf=csrf, can_act=self.token is not None, **values
        )
        return HTMLResponse(html, status_code=status_code)

    def node_table(self, statuses: list[status_module.NodeStatus]) -> Markup:
        """The node table of `/` and `/nodes` (templates/table.html), autoescaped."""
        table: Markup = self.templates.get_template("table.html").module.node_table(statuses)  # type: ignore[attr-defined]
        return table

    def down(self, request: Request, problem: StoreDown) -> Response:
        self.log.error("status page: the state store did not answer", error=str(problem))
        if request.url.path.startswith("/api/"):
            return JSONResponse({"error": f"the state store is unreachable: {problem}"}, status_code=503)
        return self.page(request, "error.html", 503, title="State store unreachable", message=str(problem))

    # --- read-only pages ---------------------------------------------------------------

    def status(self) -> Snapshot:
        """The statuses and runs: those gathered last while the store has not changed since
        (and for at most `status.REUSE_SECONDS`), else gathered now."""
        plan = self.plan()
        view, graph = self.view()

        def gather(store: StateStore) -> Snapshot:
            with self._snapshot_mutex:
                # The marker is read first: a write while gathering makes the next request
                # gather again.
                marker = store.change_marker()
                moment = time.monotonic()
                last = self._snapshot
                if (
                    last is not None
                    and marker is not None
                    and last.plan is plan
                    and last.marker == marker
                    and moment - last.taken < status_module.REUSE_SECONDS
                ):
                    return last
                now = self.clock.now()
                self._snapshot = Snapshot(
                    plan,
                    marker,
                    moment,
                    REDACTOR.text(plan.playbook),
                    status_module.node_statuses(plan, store, now, view),
                    status_module.recent_runs(store),
                    graph,
                    fleet_summary(store),
                )
                return self._snapshot

        return self.store.use(gather)

    def index(self, request: Request) -> Response:
        """The graph, the nodes that need a look (problems first: the others are counted,
        and listed on /nodes), the last runs."""
        try:
            found = self.status()
        except StoreDown as problem:
            return self.down(request, problem)
        statuses = found.statuses
        problems = [s for s in statuses if s.is_problem]
        counts: dict[str, int] = {}
        for s in statuses:
            counts[s.outcome] = counts.get(s.outcome, 0) + 1
        return self.page(
            request,
            "index.html",
            playbook=found.playbook,
            graph=found.memo("svg", lambda: draw(found.graph, {f"{s.host}:{s.node}": s for s in statuses})),
            total=len(statuses),
            counts=sorted(counts.items()),
            problem_table=found.memo(
                "problems", lambda: self.node_table(problems[: status_module.PROBLEMS_SHOWN])
            ),
            problems_shown=min(len(problems), status_module.PROBLEMS_SHOWN),
            problem_count=len(problems),
            runs=found.runs,
            fleet=found.fleet,
            colours=status_module.COLOURS,
        )

    def node_list(self, request: Request) -> Response:
        """Every node (or, with `?problems=1`, those that need a look), a page at a time."""
        only_problems = request.query_params.get("problems", "") in ("1", "true")
        try:
            number = max(int(request.query_params.get("page", "1")), 1)
        except ValueError:
            return self.page(
                request, "error.html", 400, title="Bad request", message="page: expected a number"
            )
        try:
            found = self.status()
        except StoreDown as problem:
            return self.down(request, problem)
        shown = [s for s in found.statuses if s.is_problem or not only_problems]
        size = status_module.NODES_PER_PAGE
        pages = max(math.ceil(len(shown) / size), 1)
        number = min(number, pages)
        return self.page(
            request,
            "nodes.html",
            playbook=found.playbook,
            statuses=shown[(number - 1) * size : number * size],
            total=len(shown),
            number=number,
            pages=pages,
            only_problems=only_problems,
        )

    def api_status(self, request: Request) -> Response:
        try:
            found = self.status()
        except StoreDown as problem:
            return self.down(request, problem)
        body = found.memo(
            "api",
            lambda: (
                JSONResponse(
                    {
                        "playbook": found.playbook,
                        "nodes": [s.as_json() for s in found.statuses],
                        "runs": found.runs[:5],
                        "fleet": None if found.fleet is None else found.fleet.to_dict(),
                    }
                ).body
            ),
        )
        return Response(body, media_type="application/json")

    def api_fleet(self, request: Request) -> Response:
        """The fleet sharing the store: its workers and the last tick (null without one)."""
        try:
            found = self.status()
        except StoreDown as problem:
            return self.down(request, problem)
        return JSONResponse({"fleet": None if found.fleet is None else found.fleet.to_dict()})

    def api_runs(self, request: Request) -> Response:
        try:
            count = min(max(int(request.query_params.get("count", status_module.RUNS_SHOWN)), 1), 1000)
        except ValueError:
            return JSONResponse({"error": "count: expected an integer"}, status_code=400)
        try:
            runs = self.store.use(lambda store: status_module.recent_runs(store, count))
        except StoreDown as problem:
            return self.down(request, problem)
        return JSONResponse({"runs": runs})

    def api_approvals(self, request: Request) -> Response:
        """Approvals, newest first: the open ones, or all with `?all=1`."""
        everything = request.query_params.get("all", "") in ("1", "true")
        try:
            found = self.store.use(lambda store: store.approvals(open_only=not everything))
        except StoreDown as problem:
            return self.down(request, problem)
        return JSONResponse({"approvals": [a.as_json() for a in found[:1000]]})

    def _key(self, request: Request) -> NodeKey | None:
        key = NodeKey(request.path_params["host"], request.path_params["node"])
        return key if key in self.plan().specs else None

    def detail(self, request: Request) -> dict[str, Any] | Response:
        try:
            key = self._key(request)
            if key is None:
                raise LookupError
            plan, now = self.plan(), self.clock.now()
            incidents = self.controller.incident_dir
            return self.store.use(lambda store: status_module.node_detail(plan, store, key, now, incidents))
        except LookupError:
            message = "no such node in the playbook"
            if request.url.path.startswith("/api/"):
                return JSONResponse({"error": message}, status_code=404)
            return self.page(request, "error.html", 404, title="Not found", message=message)
        except StoreDown as problem:
            return self.down(request, problem)

    def node_page(self, request: Request) -> Response:
        found = self.detail(request)
        if isinstance(found, Response):
            return found
        return self.page(request, "node.html", node=found, done=request.query_params.get("done", ""))

    def api_node(self, request: Request) -> Response:
        found = self.detail(request)
        return found if isinstance(found, Response) else JSONResponse(found)

    def metrics(self, _request: Request) -> Response:
        from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

        registry = CollectorRegistry(auto_describe=False)
        if self.controller.latest is not None:
            registry.register(self.controller.latest)
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    # --- signing in and acting ---------------------------------------------------------

    def login_page(self, request: Request) -> Response:
        target = request.query_params.get("next", "/")
        return self.page(request, "login.html", failed=False, request_next=target if _local(target) else "/")

    async def login(self, request: Request) -> Response:
        form = await _form(request)
        if self.sessions is None or not same(form.get("token"), self.token):
            self.log.warning("status page: sign-in refused", client=_client(request))
            return self.page(request, "login.html", 403, failed=True, request_next="/")
        target = form.get("next") or "/"
        response = RedirectResponse(target if _local(target) else "/", status_code=303)
        response.set_cookie(SESSION_COOKIE, self.sessions.new(), httponly=True, samesite="strict")
        return response

    async def logout(self, request: Request) -> Response:
        response = RedirectResponse("/", status_code=303)
        response.delete_cookie(SESSION_COOKIE)
        return response

    async def act(self, request: Request) -> Response:
        action = request.path_params["action"]
        form = await _form(request)
        by_bearer = bearer(request.headers.get("authorization"))
        if by_bearer is not None:
            allowed = same(by_bearer, self.token)
        else:
            allowed = self.sessions is not None and self.sessions.valid(
                request.cookies.get(SESSION_COOKIE), form.get("csrf")
            )
        if not allowed:
            self.log.warning("status page: action refused", action=action, client=_client(request))
            message = (
                "refused: sign in with the operator's token first (actions need it)"
                if self.token
                else "refused: this daemon was started without an operator token; actions are off"
            )
            if by_bearer is not None or "json" in request.headers.get("accept", ""):
                return JSONResponse({"error": message}, status_code=403)
            return self.page(request, "error.html", 403, title="Refused", message=message)
        if action not in ACTIONS:
            return JSONResponse({"error": f"unknown action; known: {', '.join(ACTIONS)}"}, status_code=404)
        host, node = form.get("host", ""), form.get("node", "")
        plan = self.plan()
        key = NodeKey(host, node) if node else None
        if key is not None and key not in plan.specs:
            return JSONResponse({"error": "no such node in the playbook"}, status_code=404)
        if key is None and action != "run":
            return JSONResponse({"error": "host and node are required"}, status_code=400)
        who = f"status page ({_client(request)})"
        try:
            if action in ("approve", "deny"):
                if key is None:
                    return JSONResponse({"error": "host and node are required"}, status_code=400)
                done = await run_in_threadpool(self._answer, action, key, form.get("approval", ""), who)
            else:
                done = await run_in_threadpool(self._do, action, key, form.get("reason") or "", who)
        except StoreDown as problem:
            return self.down(request, problem)
        except ApprovalError as problem:
            if by_bearer is not None:
                return JSONResponse({"error": str(problem)}, status_code=409)
            return self.page(request, "error.html", 409, title="Not answered", message=str(problem))
        self.log.info("status page: action", action=action, node=str(key) if key else "*", by=who)
        if by_bearer is not None:
            return JSONResponse({"done": done})
        target = f"/nodes/{_quote(host)}/{_quote(node)}" if key else "/"
        return RedirectResponse(f"{target}?done={urllib.parse.quote(done)}", status_code=303)

    def _answer(self, action: str, key: NodeKey, approval_id: str, who: str) -> str:
        """Approve or deny one of the node's approvals; an approval asks for a run of the
        node at once (it re-checks first, and acts only if the node is still unhealthy)."""
        now = self.clock.now()

        def answer(store: StateStore) -> str:
            found = store.approval(approval_id)
            if found is None or NodeKey(found.host, found.node) != key:
                raise ApprovalError(f"no approval {approval_id!r} for {key.node} on {key.host}")
            return store.answer_approval(approval_id, action == "approve", who, now).status

        status = self.store.use(answer)
        if action == "approve" and not self.controller.starts_runs:
            return f"{status} {approval_id}: {NEXT_TICK}"
        if action == "approve":
            self.controller.request_run({key}, "operator")
            return f"{status} {approval_id}: a run was asked for"
        return f"{status} {approval_id}"

    def _do(self, action: str, key: NodeKey | None, reason: str, who: str) -> str:
        now = self.clock.now()
        if action == "run" and not self.controller.starts_runs:
            return f"no run started: {NEXT_TICK}"
        if action == "run":
            new = self.controller.request_run(None if key is None else {key}, "operator")
            return "run requested" if new else "run requested (joined the one waiting)"
        assert key is not None
        if action == "pause":
            self.store.use(
                lambda s: s.set_pause(
                    key.host, key.node, None, reason or "paused from the status page", now, who
                )
            )
            return "paused"
        if action == "resume":
            found = self.store.use(lambda s: s.clear_pause(key.host, key.node))
            return "resumed" if found else "was not paused"

        def reset(store: StateStore) -> None:
            store.save_node_state(limits.reset(store.node_state(key.host, key.node), now))
            store.close_escalation(f"{key.host}:{key.node}", now)

        self.store.use(reset)
        return "reset"

    # --- Alertmanager ------------------------------------------------------------------

    async def alertmanager(self, request: Request) -> Response:
        client = _client(request)
        if not same(bearer(request.headers.get("authorization")), self.hook_token):
            self.log.warning("alertmanager webhook refused: no valid bearer token", client=client)
            return JSONResponse({"error": "a valid bearer token is required"}, status_code=401)
        body = await _bounded_body(request, MAX_BODY)
        if body is None:
            self.log.warning("alertmanager webhook refused: body too large", client=client)
            return JSONResponse({"error": f"the body is larger than {MAX_BODY} bytes"}, status_code=413)
        try:
            webhook = Webhook.model_validate_json(body)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(map(str, e['loc'])) or 'body'}: {e['msg']}" for e in exc.errors()[:5]
            )
            self.log.warning(
                "alertmanager webhook refused: not a version 4 payload", client=client, problems=problems
            )
            return JSONResponse(
                {"error": f"not an Alertmanager version 4 payload: {problems}"}, status_code=400
            )
        plan = self.plan()
        routes = plan.settings.alerts if plan.settings else []
        view, _ = self.view()
        own = {key: plan.specs[key].alerts for key in view.order if plan.specs[key].alerts}
        triage = self.router.triage(webhook, routes, view.order, own)
        run = "none"
        if triage.keys and not self.controller.starts_runs:
            run = "next tick"  # a fleet: the workers check every node each tick
        elif triage.keys:
            run = "requested" if self.controller.request_run(triage.keys, "alert") else "coalesced"
        self.log.info(
            "alertmanager webhook",
            started=triage.started,
            ignored=triage.ignored,
            nodes=sorted(str(k) for k in triage.keys),
            run=run,
        )
        return JSONResponse(
            {"run": run, "started": triage.started, "ignored": triage.ignored}, status_code=202
        )


def _client(request: Request) -> str:
    return request.client.host if request.client else "?"


def _quote(text: str) -> str:
    return urllib.parse.quote(text, safe="")


def _local(target: str | None) -> bool:
    """A redirect target on this site (no open redirect through `next`)."""
    return bool(target) and target.startswith("/") and not target.startswith("//")  # type: ignore[union-attr]


async def _bounded_body(request: Request, limit: int) -> bytes | None:
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


async def _form(request: Request) -> dict[str, str]:
    """A urlencoded form (the only kind these pages send), bounded; the last value of a field."""
    if request.method != "POST" or "json" in request.headers.get("content-type", ""):
        body = await _bounded_body(request, MAX_FORM) if request.method == "POST" else b""
        try:
            data = json.loads(body or b"{}")
        except ValueError:
            return {}
        return {k: str(v) for k, v in data.items()} if isinstance(data, dict) else {}
    body = await _bounded_body(request, MAX_FORM)
    return dict(urllib.parse.parse_qsl((body or b"").decode(errors="replace")))


def application(web: Web) -> Starlette:
    """The Starlette application over `web`."""
    return Starlette(
        routes=[
            Route("/", web.index),
            Route("/nodes", web.node_list),
            Route("/nodes/{host}/{node}", web.node_page),
            Route("/api/status", web.api_status),
            Route("/api/runs", web.api_runs),
            Route("/api/fleet", web.api_fleet),
            Route("/api/approvals", web.api_approvals),
            Route("/api/nodes/{host}/{node}", web.api_node),
            Route("/metrics", web.metrics),
            Route("/login", web.login_page, methods=["GET"]),
            Route("/login", web.login, methods=["POST"]),
            Route("/logout", web.logout, methods=["POST"]),
            Route("/actions/{action}", web.act, methods=["POST"]),
            Route("/hooks/alertmanager", web.alertmanager, methods=["POST"]),
        ]
    )


def parse_address(address: str) -> tuple[str, int]:
    """`HOST:PORT` (`[::1]:9560` for IPv6); ValueError naming what is wrong."""
    host, sep, port = address.rpartition(":")
    if not sep or not host:
        raise ValueError(f"expected HOST:PORT, got {address!r}")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if not port.isdigit() or not 1 <= int(port) <= 65535:
        raise ValueError(f"the port must be 1 to 65535, got {port!r}")
    return host, int(port)


class WebServer:
    """uvicorn serving the application in a background thread. The socket is bound at once,
    so a port in use is an error at start, not a log line in a thread."""

    def __init__(
        self, app: Starlette, host: str, port: int, on_shutdown: Callable[[], None] | None = None
    ) -> None:
        import uvicorn

        self.on_shutdown = on_shutdown
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.socket = socket.create_server((host, port), family=family, reuse_port=False)
        self.address = self.socket.getsockname()[:2]
        config = uvicorn.Config(
            app, log_config=None, access_log=False, lifespan="off", timeout_graceful_shutdown=2
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.socket]}, name="web", daemon=True
        )

    def start(self) -> WebServer:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started and self.thread.is_alive() and time.monotonic() < deadline:
            time.sleep(0.01)
        return self

    def shutdown(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.socket.close()
        if self.on_shutdown is not None:
            self.on_shutdown()


def serve(
    controller: Controller,
    address: str,
    state: str | None,
    token: str | None,
    hook_token: str | None,
) -> WebServer:
    """Start serving the daemon's page on `address` (HOST:PORT); returns the running server."""
    host, port = parse_address(address)
    web = Web(controller, StoreAccess(state), token, hook_token)
    return WebServer(application(web), host, port, web.store.close).start()
