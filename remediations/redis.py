"""`redis_command` and `celery_purge`: change Redis, or empty Celery's queues on the broker."""

from __future__ import annotations

import shlex
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from engine.clients.redis import RedisOptions, describe_error
from engine.kit import ActionContext, ActionResult, SecretError, action_type
from remediations.base import Action

# Commands that delete or overwrite data, or may (scripts, renames). Anything here makes
# the step destructive: it needs `destructive: true` in the playbook and --allow-destructive.
_DESTRUCTIVE = frozenset(
    {
        "DEL",
        "UNLINK",
        "FLUSHDB",
        "FLUSHALL",
        "GETDEL",
        "GETSET",
        "EXPIRE",
        "PEXPIRE",
        "EXPIREAT",
        "PEXPIREAT",
        "RENAME",
        "RESTORE",
        "MIGRATE",
        "MOVE",
        "SWAPDB",
        "COPY",
        "LPOP",
        "RPOP",
        "LTRIM",
        "LREM",
        "LMPOP",
        "BLPOP",
        "BRPOP",
        "RPOPLPUSH",
        "LMOVE",
        "SPOP",
        "SREM",
        "SMOVE",
        "ZREM",
        "ZPOPMIN",
        "ZPOPMAX",
        "ZREMRANGEBYSCORE",
        "ZREMRANGEBYRANK",
        "ZREMRANGEBYLEX",
        "HDEL",
        "XDEL",
        "XTRIM",
        "EVAL",
        "EVALSHA",
        "EVAL_RO",
        "FCALL",
        "SCRIPT",
        "FUNCTION",
        "SHUTDOWN",
        "DEBUG",
        "SET",
        "MSET",
        "HSET",
        "PUBLISH",
    }
)
# Commands that answer with how many things they removed: 0 means there was nothing to do.
_COUNTING = frozenset({"DEL", "UNLINK", "HDEL", "SREM", "ZREM", "LREM", "XDEL", "EXPIRE"})


class RedisGuard(BaseModel):
    """A read-only command whose reply says the action is not needed."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    command: list[str] = Field(description="e.g. [CONFIG, GET, maxmemory-policy]")
    equals: Any = Field(description="the reply that means nothing is to do")


@action_type("redis_command")
class RedisCommandAction(Action, RedisOptions):
    """Sends one Redis command (`CONFIG SET maxmemory-policy allkeys-lru`, `DEL stuck-lock`).
    `ok` when `unless_reply` says it is not needed, or a deleting command removed nothing.
    Commands that delete or overwrite data (DEL, FLUSHALL, EXPIRE, SET, EVAL, ...) make
    the step destructive."""

    command: list[str] = Field(description="the command and its arguments, e.g. [DEL, lock]")
    unless_reply: RedisGuard | None = Field(
        None,
        description="a read-only command and the reply that means nothing is to do (`ok`); "
        "named apart from the step-level `unless:` check",
    )

    @field_validator("command", mode="before")
    @classmethod
    def _split(cls, command: Any) -> Any:
        return shlex.split(command) if isinstance(command, str) else command

    @field_validator("command")
    @classmethod
    def _not_empty(cls, command: list[str]) -> list[str]:
        if not command or not command[0].strip():
            raise ValueError("`command` is empty")
        return command

    def is_destructive(self) -> bool:
        name = self.command[0].upper()
        if name == "CONFIG" and len(self.command) > 1:
            return False  # CONFIG SET/GET/REWRITE change settings, not data
        return name in _DESTRUCTIVE

    def default_timeout(self) -> float:
        return 30.0

    def describe(self) -> str:
        text = f"redis {self.url}: {shlex.join(self.command)}"
        return text + (
            f" (unless {shlex.join(self.unless_reply.command)} answers {self.unless_reply.equals!r})"
            if self.unless_reply
            else ""
        )

    def apply(self, ctx: ActionContext) -> ActionResult:
        import redis

        try:
            client = self.connect(ctx, ctx.timeout)
        except SecretError as exc:
            return ActionResult.failed(str(exc))
        try:
            if self.unless_reply is not None:
                reply = client.execute_command(*self.unless_reply.command)
                if _same(reply, self.unless_reply.equals):
                    return ActionResult.ok(
                        f"not needed: {shlex.join(self.unless_reply.command)} answers {reply!r}"
                    )
            reply = client.execute_command(*self.command)
        except redis.exceptions.ResponseError as exc:
            return ActionResult.failed(f"Redis refused {self.command[0]}: {exc}")
        except redis.exceptions.RedisError as exc:
            return ActionResult.failed(describe_error(exc)[1])
        finally:
            client.close()
        if self.command[0].upper() in _COUNTING and reply == 0:
            return ActionResult.ok(f"{self.command[0]} had nothing to remove")
        return ActionResult.changed(f"{self.command[0]} answered {reply!r}")


@action_type("celery_purge")
class CeleryPurgeAction(Action, RedisOptions):
    """Deletes every waiting task from Celery's queues on the broker (the runbook's
    `celery purge`, VORSICHT!). Always destructive. `ok` when the queues were empty.

    It uses kombu (Celery's messaging library) on the broker URL, which knows how each
    broker stores a queue (Redis keeps a list per queue and priority)."""

    destructive = True

    queues: list[str] = Field(default_factory=lambda: ["celery"], description="queues to empty")

    @field_validator("queues")
    @classmethod
    def _some(cls, queues: list[str]) -> list[str]:
        if not queues or not all(queue.strip() for queue in queues):
            raise ValueError("name at least one queue (Celery's default is `celery`)")
        return queues

    def default_timeout(self) -> float:
        return 60.0

    def describe(self) -> str:
        return f"purge Celery queue(s) {', '.join(self.queues)} on {self.url}"

    def apply(self, ctx: ActionContext) -> ActionResult:
        try:
            from kombu import Connection
        except ImportError:
            return ActionResult.failed(
                "celery_purge needs the celery library (pip install 'remediate[celery]')"
            )
        try:
            url = self.resolved_url(ctx, with_password=True)
        except SecretError as exc:
            return ActionResult.failed(str(exc))
        removed = 0
        try:
            with Connection(
                url, connect_timeout=ctx.timeout, transport_options={"max_retries": 0}
            ) as connection:
                channel = connection.default_channel
                for queue in self.queues:
                    removed += int(channel.queue_purge(queue) or 0)
        except Exception as exc:  # kombu raises broker-specific types
            return ActionResult.failed(f"cannot purge: {ctx.redactor.text(str(exc))}")
        if removed == 0:
            return ActionResult.ok(f"{', '.join(self.queues)} already empty")
        return ActionResult.changed(f"removed {removed} task(s) from {', '.join(self.queues)}")


def _same(reply: Any, expected: Any) -> bool:
    if isinstance(reply, dict) and isinstance(expected, dict):
        return {str(k): str(v) for k, v in reply.items()} == {str(k): str(v) for k, v in expected.items()}
    if isinstance(reply, list | tuple) and isinstance(expected, list | tuple):
        return [str(v) for v in reply] == [str(v) for v in expected]
    return str(reply) == str(expected)
