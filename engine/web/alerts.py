"""Alertmanager's webhook (version 4) read strictly, and alerts mapped to the nodes a run is
started for. The format is Alertmanager's `webhook_config` payload:

    {"version": "4", "status": "firing", "receiver": "...", "groupKey": "...",
     "alerts": [{"status": "firing", "labels": {...}, "annotations": {...},
                 "startsAt": "...", "endsAt": "...", "fingerprint": "..."}], ...}
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from engine.core.graph import NodeKey
from engine.playbook.unattended import AlertMatcher, AlertRoute

MAX_BODY = 1024 * 1024
"""The largest webhook body read (Alertmanager's are kilobytes; `max_alerts` caps them)."""


class _Loose(BaseModel):
    # Alertmanager adds fields over time (truncatedAlerts, groupKey...): unknown ones are kept
    # out of the way, the ones used here are required and typed.
    model_config = ConfigDict(extra="ignore")


class Alert(_Loose):
    status: Literal["firing", "resolved"]
    labels: dict[str, str]
    annotations: dict[str, str] = Field(default_factory=dict)
    startsAt: str = ""
    fingerprint: str = ""

    @property
    def identity(self) -> str:
        """What makes two deliveries the same alert: its fingerprint, else its labels."""
        return self.fingerprint or repr(sorted(self.labels.items()))


class Webhook(_Loose):
    version: Literal["4"]
    status: Literal["firing", "resolved"]
    alerts: list[Alert] = Field(max_length=10_000)


@dataclass
class Triage:
    """What one webhook asks for: the nodes to run, and why each alert led to nothing."""

    keys: set[NodeKey] = field(default_factory=set)
    started: list[str] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)


@dataclass
class AlertRouter:
    """Maps firing alerts to node keys; an alert seen again within its route's window is not
    sent on (Alertmanager repeats a firing alert every `repeat_interval`, and several
    routes or replicas may deliver it)."""

    monotonic: Callable[[], float] = time.monotonic
    _seen: dict[str, float] = field(default_factory=dict)
    _mutex: threading.Lock = field(default_factory=threading.Lock)

    def triage(
        self,
        webhook: Webhook,
        routes: Sequence[AlertRoute],
        keys: Sequence[NodeKey],
        own: Mapping[NodeKey, Sequence[AlertMatcher]] | None = None,
    ) -> Triage:
        """The nodes (of `keys`) the webhook's firing alerts start a run of: through the
        playbook's `routes`, and through the nodes' `own` matchers (a node's `alerts:`)."""
        result = Triage()
        now = self.monotonic()
        for alert in webhook.alerts:
            name = alert.labels.get("alertname", "?")
            if alert.status != "firing":
                result.ignored.append(f"{name}: resolved")
                continue
            labels = alert.labels
            matching = [route for route in routes if route.matches(labels)]
            owned = [(key, m) for key, matchers in (own or {}).items() for m in matchers if m.matches(labels)]
            if not matching and not owned:
                result.ignored.append(f"{name}: no alerts: route or node matcher matches its labels")
                continue
            found = {
                key
                for route in matching
                for key in keys
                if key.node in route.nodes and route.on_host(labels, key.host)
            } | {key for key, matcher in owned if matcher.on_host(labels, key.host)}
            if not found:
                result.ignored.append(f"{name}: the host its labels name runs none of its nodes")
                continue
            window = max(m.window for m in [*matching, *(matcher for _, matcher in owned)])
            with self._mutex:
                last = self._seen.get(alert.identity)
                if last is not None and now - last < window:
                    result.ignored.append(f"{name}: already started a run within its window")
                    continue
                self._seen[alert.identity] = now
                self._forget(now)
            result.keys |= found
            result.started.append(name)
        return result

    def _forget(self, now: float, horizon: float = 86_400.0) -> None:
        # A bounded memory: alerts not seen for a day are forgotten.
        for identity in [i for i, at in self._seen.items() if now - at > horizon]:
            del self._seen[identity]
