"""`redis`: Redis answers PING; optionally its queue and memory stay below limits."""

from __future__ import annotations

from typing import Any

from pydantic import Field, model_validator

from checks.base import Check
from engine.clients.redis import RedisOptions, describe_error
from engine.kit import CheckResult, ProbeContext, SecretError, check_type


@check_type("redis")
class RedisCheck(Check, RedisOptions):
    """Sends PING. Unhealthy reasons: connection refused, authentication failed, timed out,
    still loading its dataset, a queue (a list key such as Celery's `celery`) longer than
    `max_queue_length`, memory above `max_memory_percent` of `maxmemory` or above
    `max_memory_bytes`."""

    queue_key: str = Field("celery", description="the list key `max_queue_length` applies to")
    max_queue_length: int | None = Field(
        None, ge=0, description="more entries in `queue_key` than this is unhealthy (tasks pile up)"
    )
    max_memory_percent: float | None = Field(
        None,
        gt=0,
        le=100,
        description="used_memory above this percentage of Redis's `maxmemory` is unhealthy "
        "(an error when maxmemory is not set)",
    )
    max_memory_bytes: int | None = Field(
        None, gt=0, description="used_memory above this many bytes is unhealthy"
    )

    @model_validator(mode="after")
    def _one_memory_limit(self) -> RedisCheck:
        if self.max_memory_percent is not None and self.max_memory_bytes is not None:
            raise ValueError("give `max_memory_percent` or `max_memory_bytes`, not both")
        return self

    def probe(self, ctx: ProbeContext) -> CheckResult:
        import redis

        target = "{}:{}".format(*self.address())
        evidence: dict[str, Any] = {"target": target}
        try:
            client = self.connect(ctx, self.timeout)
        except SecretError as exc:
            return CheckResult.error(str(exc), **evidence)
        try:
            client.ping()
            if self.max_queue_length is not None:
                length = int(client.llen(self.queue_key))
                evidence["queue_length"] = length
                if length > self.max_queue_length:
                    return CheckResult.unhealthy(
                        f"{target}: {length} entries in {self.queue_key!r}, more than "
                        f"{self.max_queue_length}",
                        kind="queue",
                        **evidence,
                    )
            if self.max_memory_percent is not None or self.max_memory_bytes is not None:
                memory = client.info("memory")
                return self._judge_memory(target, dict(memory), evidence)
        except redis.exceptions.ResponseError as exc:
            return CheckResult.unhealthy(f"{target}: {exc}", kind="response", **evidence)
        except redis.exceptions.RedisError as exc:
            kind, message = describe_error(exc)
            return CheckResult.unhealthy(f"{target}: {message}", kind=kind, **evidence)
        finally:
            client.close()
        return CheckResult.healthy(f"{target} answers PING", **evidence)

    def _judge_memory(self, target: str, memory: dict[str, Any], evidence: dict[str, Any]) -> CheckResult:
        used = int(memory.get("used_memory", 0))
        evidence["used_memory_bytes"] = used
        if self.max_memory_bytes is not None and used > self.max_memory_bytes:
            return CheckResult.unhealthy(
                f"{target}: uses {used} bytes, more than {self.max_memory_bytes}",
                kind="memory",
                **evidence,
            )
        if self.max_memory_percent is not None:
            limit = int(memory.get("maxmemory", 0))
            if limit <= 0:
                return CheckResult.error(
                    f"{target}: maxmemory is not set, so `max_memory_percent` has nothing to "
                    "compare with (use `max_memory_bytes`)",
                    **evidence,
                )
            percent = used * 100.0 / limit
            evidence["memory_percent"] = round(percent, 1)
            if percent > self.max_memory_percent:
                return CheckResult.unhealthy(
                    f"{target}: memory at {percent:.1f}% of maxmemory, more than "
                    f"{self.max_memory_percent:g}%",
                    kind="memory",
                    **evidence,
                )
        return CheckResult.healthy(f"{target} answers PING", **evidence)
