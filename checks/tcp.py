"""`tcp`: a port accepts connections."""

from __future__ import annotations

import socket
import time

from pydantic import Field

from checks.base import Check
from engine.kit import CheckResult, ProbeContext, check_type


@check_type("tcp")
class TcpCheck(Check):
    """Healthy when a TCP connection to host:port succeeds within the timeout."""

    host: str = Field("127.0.0.1", description="address to connect to, as the target host sees it")
    port: int = Field(ge=1, le=65535, description="TCP port")
    via_host: bool = Field(
        True,
        description="connect as the target host sees the address (through its transport); "
        "false connects from the controller",
    )

    def probe(self, ctx: ProbeContext) -> CheckResult:
        started = time.monotonic()
        address = f"{self.host}:{self.port}"
        try:
            transport = ctx.transport if self.via_host else None
            if transport is not None:
                connection = transport.connect_tcp(self.host, self.port, timeout=self.timeout)
            else:
                connection = socket.create_connection((self.host, self.port), self.timeout)
        except ConnectionRefusedError:
            return CheckResult.unhealthy(f"{address} refused the connection", address=address)
        except TimeoutError:
            return CheckResult.unhealthy(
                f"{address} did not answer within {self.timeout:g}s", address=address
            )
        except OSError as exc:
            return CheckResult.unhealthy(f"{address}: {exc.strerror or exc}", address=address)
        connection.close()
        latency_ms = round((time.monotonic() - started) * 1000, 1)
        return CheckResult.healthy(f"{address} accepts connections", latency_ms=latency_ms)
