"""The connection to one host over SSH (paramiko): opened once on first use, shared by
every check and action of the host; each command is a channel on it, never a new connection."""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shlex
import socket
import struct
import threading
import time
from collections.abc import Mapping
from typing import Any, cast

import paramiko
import paramiko.packet

from engine.clients.sizes import READ_CHUNK, HeadTail
from engine.errors import SecretError, TransportError
from engine.output.logs import get_logger
from engine.secrets.sources import read_secret
from engine.transports.base import Command, CommandResult, readable
from engine.transports.pool import register_transport
from engine.transports.ssh.forwarding import _Forwarder, _relay
from engine.transports.ssh.host_keys import (
    _changed_key_message,
    _HostKeyRefused,
    _private_key,
    known_hosts_client,
)
from engine.transports.ssh.settings import Hop, SSHSettings, ssh_settings

log = get_logger(name="remediate.ssh")


class _QuietChannelRefusals(logging.Filter):
    """paramiko logs every refused channel at ERROR; this transport retries refused sessions
    and reports refused forwards itself, so those lines would only alarm operators."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "open FAILED" not in record.getMessage()


logging.getLogger("paramiko.transport").addFilter(_QuietChannelRefusals())

# A command that outlives its timeout is killed on the remote side by coreutils/busybox
# `timeout`, which signals the command's whole process group; the channel is abandoned only
# if the host does not answer within this grace period after that.
KILL_GRACE = 5.0
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class SSHTransport:
    """A host reached over SSH. Construction is free; the connection opens on first use,
    once, under a lock, and every later command or forwarded connection is a channel on it.
    A host that cannot be reached raises `TransportError`, now and for the rest of the run,
    so that its other checks fail fast instead of each waiting for the connect timeout."""

    def __init__(self, host: str, settings: SSHSettings) -> None:
        self.host = host
        self.settings = settings
        self._lock = threading.Lock()
        self._sessions = threading.BoundedSemaphore(max(1, settings.max_sessions))
        self._clients: list[paramiko.SSHClient] = []
        self._failure: str | None = None
        self._closed = False
        self._forwarders: dict[tuple[str, int] | str, _Forwarder] = {}
        self._sudo_password: str | None = None
        self.connections_opened = 0
        """How many SSH connections this transport opened (1 in a healthy run)."""

    # -- connection ---------------------------------------------------------------------

    def _transport(self) -> paramiko.Transport:
        with self._lock:
            if self._closed:
                raise TransportError(f"{self.host}: transport is closed")
            if self._failure:
                raise TransportError(self._failure)
            transport = self._clients[-1].get_transport() if self._clients else None
            if transport is not None and transport.is_active():
                return transport
            self._close_clients()
            try:
                return self._connect()
            except TransportError as exc:
                self._close_clients()
                self._failure = str(exc)
                raise

    def _connect(self) -> paramiko.Transport:
        settings, started = self.settings, time.monotonic()
        passphrase = self._secret(settings.key_passphrase_env, settings.key_passphrase_file, "key passphrase")
        hops = [*settings.jumps, settings.target]
        sock: Any = None
        for index, hop in enumerate(hops):
            via = f" via {hops[index - 1]}" if index else ""
            if index == 0:
                sock = self._tcp(hop)
            else:
                previous = self._clients[-1].get_transport()
                assert previous is not None
                try:
                    sock = previous.open_channel(
                        "direct-tcpip",
                        (hop.address, hop.port),
                        ("127.0.0.1", 0),
                        timeout=settings.connect_timeout,
                    )
                except (paramiko.SSHException, OSError, EOFError) as exc:
                    raise TransportError(
                        f"{self.host}: cannot reach {hop.address}:{hop.port}"
                        f"{via}: {exc or type(exc).__name__}"
                    ) from exc
            client = known_hosts_client(hop, settings.known_hosts, settings.ignored_checking_off)
            self._clients.append(client)
            keys = list(dict.fromkeys([*hop.key_files, *settings.target.key_files]))
            # The first key is handed over loaded (parsed once for the whole fleet);
            # paramiko tries it first, then the other files.
            first_key = _private_key(keys[0], passphrase) if keys else None
            try:
                client.connect(
                    hop.address,
                    hop.port,
                    username=hop.user,
                    sock=sock,
                    pkey=first_key,
                    transport_factory=_transport_offering_gcm_first,
                    # paramiko takes a list of key files; its type stubs say one string.
                    key_filename=cast(Any, keys[1:] if first_key else keys) or None,
                    passphrase=passphrase,
                    allow_agent=settings.allow_agent,
                    look_for_keys=settings.look_for_keys,
                    timeout=settings.connect_timeout,
                    banner_timeout=settings.connect_timeout,
                    auth_timeout=settings.connect_timeout,
                    channel_timeout=settings.connect_timeout,
                )
            except _HostKeyRefused as exc:
                raise TransportError(f"{self.host}: {exc}") from None
            except paramiko.BadHostKeyException as exc:
                raise TransportError(f"{self.host}: {_changed_key_message(hop, exc)}") from None
            except paramiko.AuthenticationException as exc:
                tried = ", ".join(keys) or "no key files"
                agent = " and the SSH agent" if settings.allow_agent else ""
                raise TransportError(
                    f"{self.host}: authentication as {hop.user} on {hop.address}:{hop.port}"
                    f"{via} failed ({exc}); tried {tried}{agent}"
                ) from None
            except (paramiko.SSHException, OSError, EOFError) as exc:
                raise TransportError(
                    f"{self.host}: SSH to {hop}{via} failed: {exc or type(exc).__name__}"
                ) from None
        transport = self._clients[-1].get_transport()
        assert transport is not None
        if settings.keepalive > 0:
            for client in self._clients:
                inner = client.get_transport()
                if inner is not None:
                    inner.set_keepalive(settings.keepalive)
        self.connections_opened += 1
        log.debug(
            "ssh connected",
            host=self.host,
            target=str(settings.target),
            jumps=[str(j) for j in settings.jumps],
            seconds=round(time.monotonic() - started, 3),
        )
        return transport

    def _tcp(self, hop: Hop) -> socket.socket:
        try:
            sock = socket.create_connection((hop.address, hop.port), timeout=self.settings.connect_timeout)
        except TimeoutError:
            raise TransportError(
                f"{self.host}: cannot connect to {hop.address}:{hop.port}: "
                f"no answer within {self.settings.connect_timeout:g}s"
            ) from None
        except OSError as exc:
            raise TransportError(
                f"{self.host}: cannot connect to {hop.address}:{hop.port}: {exc.strerror or exc}"
            ) from None
        # paramiko does not disable Nagle's algorithm; without this every small request
        # (a command, a channel open) waits for the delayed ACK, about 40 ms each.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        lean = _LeanSocket(sock.family, sock.type, sock.proto, sock.detach())
        lean.settimeout(self.settings.connect_timeout)
        return lean

    def _secret(self, env: str | None, file: str | None, what: str) -> str | None:
        if not env and not file:
            return None
        try:
            return read_secret(env=env, file=file)
        except SecretError as exc:
            raise TransportError(f"{self.host}: cannot read the {what}: {exc}") from None

    def _channel(self, kind: str, *args: Any, timeout: float | None = None) -> paramiko.Channel:
        transport = self._transport()
        try:
            if kind == "session":
                return self._session(transport)
            return transport.open_channel(
                kind, dest_addr=args[0], src_addr=args[1], timeout=timeout or self.settings.connect_timeout
            )
        except paramiko.ChannelException as exc:
            if kind == "direct-tcpip":
                host, port = args[0]
                raise ConnectionRefusedError(
                    f"{self.host}: cannot connect to {host}:{port} from the host: {exc.text or exc}"
                ) from None
            raise TransportError(f"{self.host}: the server refused a channel: {exc}") from None
        except (paramiko.SSHException, OSError, EOFError) as exc:
            raise TransportError(f"{self.host}: SSH connection lost: {exc or type(exc).__name__}") from None

    def _session(self, transport: paramiko.Transport) -> paramiko.Channel:
        """A session channel. The server counts a session until it has processed our close
        of the previous one, so at its MaxSessions limit a new one is briefly refused: retry
        for a little while before giving up."""
        deadline = time.monotonic() + self.settings.connect_timeout
        pause = 0.005
        while True:
            try:
                return transport.open_session(timeout=self.settings.connect_timeout)
            except paramiko.ChannelException:
                if time.monotonic() + pause > deadline:
                    raise
                time.sleep(pause)
                pause = min(pause * 2, 0.2)

    # -- commands -----------------------------------------------------------------------

    def run(
        self,
        command: Command,
        *,
        timeout: float,
        env: Mapping[str, str] | None = None,
        stdin: str | None = None,
        sudo: bool = False,
    ) -> CommandResult:
        """Run a command on the host; at ``timeout`` its whole process group is killed
        there. With ``sudo`` (or ``ansible_become``) it runs as ``ansible_become_user``;
        when sudo cannot start it (no password configured, a wrong one), `TransportError`."""
        script = command if isinstance(command, str) else shlex.join(command)
        for name, value in (env or {}).items():
            if not _ENV_NAME.match(name):
                raise ValueError(f"invalid environment variable name {name!r}")
            script = f"export {name}={shlex.quote(value)}; {script}"
        limit = max(timeout, 0.001)
        remote = f"timeout -s KILL {limit:.3f} sh -c {shlex.quote(script)}"
        become = (sudo or self.settings.become) and not (
            self.settings.target.user == "root" and self.settings.become_user == "root"
        )
        if stdin is None and not become:
            # End of file on stdin comes from the host, not from our EOF packet: a command that
            # finishes at once may have its channel freed by the server before that packet
            # arrives, and OpenSSH drops the whole connection for an EOF on a freed channel.
            remote += " </dev/null"
        marker = prompt = ""
        if become:
            token = os.urandom(8).hex()
            marker, prompt = f"REMEDIATE-BECOME-{token}", f"[remediate sudo {token}] password:"
            remote = (
                f"sudo -H -S -p {shlex.quote(prompt)} -u "
                f"{shlex.quote(self.settings.become_user)} -- sh -c "
                f"{shlex.quote(f'echo {marker}; exec {remote}')}"
            )
        with self._sessions:
            started = time.monotonic()
            channel = self._started(remote)
            try:
                return self._exchange(channel, stdin, limit, started, marker, prompt)
            except (OSError, EOFError) as exc:
                raise TransportError(
                    f"{self.host}: SSH connection lost during a command: {exc or type(exc).__name__}"
                ) from None
            finally:
                channel.close()

    def _started(self, remote: str) -> paramiko.Channel:
        """A session running ``remote``. A connection found dead before the command started
        (the host rebooted, a NAT forgot it) is opened again once: the command did not run,
        so trying it on a new connection is safe. A live connection whose server refuses
        the session (at its MaxSessions limit, it counts sessions until it has processed
        our close of earlier ones) is kept, and the session asked for again shortly:
        closing it would kill every other command running on it."""
        deadline = time.monotonic() + self.settings.connect_timeout
        pause = 0.005
        reconnected = False
        while True:
            transport = self._transport()
            channel = None
            try:
                channel = self._session(transport)
                channel.exec_command(remote)
                return channel
            except paramiko.ChannelException as exc:
                raise TransportError(f"{self.host}: the server refused a session: {exc}") from None
            except (paramiko.SSHException, OSError, EOFError) as exc:
                if channel is not None:
                    channel.close()
                if transport.is_active():
                    if time.monotonic() + pause > deadline:
                        raise TransportError(
                            f"{self.host}: the server refused a session: {exc or type(exc).__name__}"
                        ) from None
                    time.sleep(pause)
                    pause = min(pause * 2, 0.2)
                    continue
                self._forget(transport)
                if reconnected:
                    raise TransportError(
                        f"{self.host}: SSH connection lost: {exc or type(exc).__name__}"
                    ) from None
                reconnected = True
                log.debug("ssh connection lost; reconnecting", host=self.host, error=str(exc))

    def _forget(self, transport: paramiko.Transport) -> None:
        """Drop a dead connection so that the next use opens a new one (unless another
        thread already did)."""
        with self._lock:
            if self._clients and self._clients[-1].get_transport() is transport:
                self._close_clients()

    def _exchange(
        self,
        channel: paramiko.Channel,
        stdin: str | None,
        timeout: float,
        started: float,
        marker: str,
        prompt: str,
    ) -> CommandResult:
        stderr = HeadTail()
        early = bytearray()  # what came before sudo's marker line, and after it
        deadline = started + timeout + KILL_GRACE
        if marker:
            problem = self._become(channel, early, stderr, marker, prompt, deadline)
            if problem:
                # The command never ran: that is no answer about the host's health, so it
                # must not look like a failed command (a check reports an error instead).
                raise TransportError(f"{self.host}: {problem}")
        stdout = HeadTail()
        stdout.write(early)
        if stdin is not None or marker:
            if stdin:
                channel.sendall(stdin.encode())
            channel.shutdown_write()
        timed_out = _read_until_eof(channel, stdout, stderr, deadline)
        if not timed_out:
            channel.status_event.wait(max(0.0, deadline - time.monotonic()))
            timed_out = not channel.exit_status_ready()
        duration = time.monotonic() - started
        status = channel.exit_status if channel.exit_status_ready() else -1
        # `timeout -s KILL` kills the group, itself included: the host reports the signal
        # (paramiko: -1) or the shell's 128+9.
        if timed_out or (status in (-1, 137) and duration >= timeout):
            timed_out, status = True, -9
        text_err = stderr.text()
        if prompt:
            text_err = text_err.replace(prompt, "")
        return CommandResult(status, stdout.text(), text_err, duration, timed_out)

    def _become(
        self,
        channel: paramiko.Channel,
        stdout: bytearray,
        stderr: HeadTail,
        marker: str,
        prompt: str,
        deadline: float,
    ) -> str | None:
        """Wait until sudo has started the command (its marker line on stdout), answering
        one password prompt on the way; the reason when it could not."""
        sent = False
        expected = (marker + "\n").encode()
        while time.monotonic() < deadline:
            while channel.recv_stderr_ready():
                stderr.write(channel.recv_stderr(READ_CHUNK))
            if channel.recv_ready():
                stdout += channel.recv(65536)
            if stdout.startswith(expected):
                del stdout[: len(expected)]
                return None
            if len(stdout) >= len(expected):
                return f"sudo did not start the command: {stdout.decode(errors='replace')}"
            prompts = stderr.text().count(prompt)
            if sent and prompts > 1:  # sudo asks again: the password was wrong
                return f"sudo as {self.settings.become_user} refused the password"
            if prompts and not sent:
                password = self._become_password()
                if password is None:
                    return (
                        f"sudo as {self.settings.become_user} needs a password: set "
                        "remediate_become_password_env or remediate_become_password_file"
                    )
                channel.sendall((password + "\n").encode())
                sent = True
            if channel.exit_status_ready() and not channel.recv_ready():
                error = stderr.text().replace(prompt, "").strip()
                return f"sudo as {self.settings.become_user} failed: {error}"
            time.sleep(0.002)
        return f"sudo as {self.settings.become_user} did not start the command in time"

    def _become_password(self) -> str | None:
        if self._sudo_password is None:
            self._sudo_password = self._secret(
                self.settings.become_password_env, self.settings.become_password_file, "become password"
            )
        return self._sudo_password

    # -- connections through the host ---------------------------------------------------

    def connect_tcp(self, host: str, port: int, *, timeout: float) -> socket.socket:
        """A socket connected to host:port as the remote host sees it (a direct-tcpip
        channel, relayed through a local socket pair)."""
        channel = self._channel("direct-tcpip", (host, port), ("127.0.0.1", 0), timeout=timeout)
        ours, theirs = socket.socketpair()
        threading.Thread(
            target=_relay, args=(theirs, channel), daemon=True, name=f"ssh-relay-{self.host}"
        ).start()
        ours.settimeout(timeout)
        return ours

    def local_endpoint(self, host: str, port: int) -> tuple[str, int]:
        """A port on the controller's loopback forwarded to host:port as the remote host
        sees it; one listener per target, each accepted connection its own channel."""
        self._transport()  # an unreachable host fails here, not in the client library
        with self._lock:
            forwarder = self._forwarders.get((host, port))
            if forwarder is None:
                forwarder = _Forwarder.tcp(
                    lambda: self._channel("direct-tcpip", (host, port), ("127.0.0.1", 0)),
                    f"{self.host}->{host}:{port}",
                )
                self._forwarders[(host, port)] = forwarder
        return forwarder.address  # type: ignore[return-value]

    def docker_base_url(self) -> str:
        """A ``unix://`` URL for ``docker.DockerClient(base_url=...)`` that reaches the
        host's Docker engine over this SSH connection. Each connection the client makes
        runs ``docker system dial-stdio`` on the host (its docker CLI, as the SSH user, or
        through ``sudo -n`` when ``ansible_become`` is set). The socket lives in a private
        directory of the controller, because the Docker API has no authentication."""
        self._transport()
        command = "docker system dial-stdio"
        settings = self.settings
        if settings.become and not (settings.target.user == "root" and settings.become_user == "root"):
            command = f"sudo -n -u {shlex.quote(settings.become_user)} -- {command}"

        def open_stdio() -> paramiko.Channel:
            channel = self._channel("session")
            channel.exec_command(command)
            return channel

        with self._lock:
            forwarder = self._forwarders.get("docker")
            if forwarder is None:
                forwarder = _Forwarder.unix(open_stdio, f"{self.host}->docker")
                self._forwarders["docker"] = forwarder
        return f"unix://{forwarder.address}"

    def close(self) -> None:
        """Stop forwarding and close the connection (and its jump hosts); idempotent."""
        with self._lock:
            self._closed = True
            forwarders, self._forwarders = list(self._forwarders.values()), {}
            self._close_clients()
        for forwarder in forwarders:
            forwarder.close()

    def _close_clients(self) -> None:
        for client in reversed(self._clients):
            transport = client.get_transport()
            if transport is not None and isinstance(transport.sock, socket.socket):
                # Closing a socket does not wake a thread blocked in its `recv`; shutting
                # it down does, so the reader thread ends now, not `IDLE_WAKE` later.
                with contextlib.suppress(OSError):
                    transport.sock.shutdown(socket.SHUT_RDWR)
            client.close()
        self._clients = []


def _read_until_eof(channel: paramiko.Channel, stdout: HeadTail, stderr: HeadTail, deadline: float) -> bool:
    """Read the command's stdout and stderr as they come, both in this thread, until the host
    ends them or the deadline passes; True when the deadline came first. (A thread draining
    stderr beside each command was one more thread per host in flight: about 16 KB each.)"""
    while True:
        # Looked at before draining: what came before the EOF is in the buffers by then.
        ended = channel.eof_received or channel.closed
        while channel.recv_stderr_ready():
            stderr.write(channel.recv_stderr(READ_CHUNK))
        while channel.recv_ready():
            stdout.write(channel.recv(READ_CHUNK))
        if ended:
            return False
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return True
        # The channel's descriptor is readable while either stream holds data, and for good
        # once the host sent EOF or closed.
        readable([channel], remaining)


_GCM_CIPHERS = ("aes128-gcm@openssh.com", "aes256-gcm@openssh.com")


IDLE_WAKE = 2.0
"""Seconds an open connection's reader thread sleeps in `recv` before it looks whether it
should stop. paramiko wakes it every 0.1 s: with a daemon or worker keeping hundreds of
connections open, those wake-ups alone cost about 0.5 ms of CPU per connection and second
(46 ms/s for 100 idle connections, measured). Closing shuts the socket down, which wakes
the thread at once; keepalives (`remediate_ssh_keepalive`) are sent on these wake-ups, so
they go out at most this late."""


CLOSE_JOIN = 2.0
"""Seconds a closing connection waits for its reader thread to end (it ends as soon as the
shut-down socket wakes it)."""


class _LeanPacketizer(paramiko.packet.Packetizer):
    """paramiko's packet handler, timing the key exchange with a deadline it looks at as it
    reads, where paramiko starts a timer thread per connection: one more thread per host
    while a fleet connects (about 3 MB of stacks at 500 hosts connecting at once). As
    paramiko's, only the first exchange is timed."""

    _handshake_deadline: float | None = None
    _handshake_done = False

    def start_handshake(self, timeout: float) -> None:
        if self._handshake_deadline is None:
            self._handshake_deadline = time.monotonic() + float(timeout)

    def handshake_timed_out(self) -> bool:
        deadline = self._handshake_deadline
        return deadline is not None and not self._handshake_done and time.monotonic() > deadline

    def complete_handshake(self) -> None:
        if self._handshake_deadline is not None:
            self._handshake_done = True


class _LeanTransport(paramiko.Transport):
    """A paramiko transport for fleets: its reader thread wakes every `IDLE_WAKE` seconds,
    not 0.1, its key exchange is timed without a thread (`_LeanPacketizer`), and once closed
    it is freed at once rather than by a full garbage collection."""

    _active_check_timeout = IDLE_WAKE

    def close(self) -> None:
        """Close; then break the reference cycles paramiko leaves (its table of its own bound
        methods, and the exception that ended its reader thread, whose traceback holds that
        thread's frames). A closed transport (its packetizer, ciphers and channels: tens of
        KB) was otherwise garbage freed only by a full collection, which at hundreds of
        hosts runs seldom: a fleet run's peak memory held most of its closed connections."""
        super().close()
        if self is not threading.current_thread():
            self.join(CLOSE_JOIN)
        if not self.is_alive():
            self.saved_exception = None
            self._handler_table: dict[int, Any] = {}


def _transport_offering_gcm_first(sock: Any, /, **options: Any) -> paramiko.Transport:
    """A paramiko transport that offers AES-GCM before its other ciphers. paramiko lists GCM
    last, after AES-CTR with an HMAC whose every packet it checks in pure Python (a
    byte-by-byte constant-time comparison, a good share of a short connection's CPU); with
    GCM, OpenSSL authenticates the packets. Servers without GCM still get the others."""
    transport = _LeanTransport(sock, packetizer_class=_LeanPacketizer, **options)
    security = transport.get_security_options()
    offered = tuple(security.ciphers)
    security.ciphers = tuple(dict.fromkeys([*(c for c in _GCM_CIPHERS if c in offered), *offered]))
    return transport


_TCP_QUICKACK: int | None = getattr(socket, "TCP_QUICKACK", None)  # Linux only


READ_AHEAD = 65536
"""Bytes a connection asks the kernel for per read. paramiko reads each packet in two exact
pieces (its first cipher block, then the rest) and the banner 128 bytes at a time; read
ahead, most packets cost one system call instead of two."""


class _LeanSocket(socket.socket):
    """A connection's TCP socket, made cheap per read for a fleet of threads. Every system
    call on a socket releases the GIL and takes it back, which with hundreds of threads in
    flight is a hand-over to another thread and back (futex calls and context switches:
    most of a 500-host run's system time). So:

    * timeouts are the kernel's (``SO_RCVTIMEO``, ``SO_SNDTIMEO``) on a blocking socket,
      where Python's own timeout polls before every read: one call per read, not two. A call
      that times out still raises `socket.timeout`, as paramiko expects;
    * reads ask for `READ_AHEAD` bytes and hand them out as paramiko asks (it reads this
      socket with ``recv`` only);
    * received data is acknowledged at once (Linux's quick-ack mode). Right after
      authentication OpenSSH holds a small packet (the confirmation of our first channel)
      until we have acknowledged the one before it (Nagle's algorithm on its side), and
      Linux delays that acknowledgement by up to 40 ms: the first command on every
      connection took 40 ms longer than the rest. Quick-ack mode does not stick, so it is
      set again after every read from the kernel."""

    _ahead = b""
    _taken = 0
    _timeout: float | None = None

    def settimeout(self, value: float | None) -> None:
        self._timeout = value
        # Blocking for good (None) and non-blocking (0) are Python's own; a time is the kernel's.
        super().settimeout(value if not value else None)
        self._kernel_timeouts(value or 0.0)

    def gettimeout(self) -> float | None:
        return self._timeout

    def _kernel_timeouts(self, seconds: float) -> None:
        whole = int(seconds)
        timeval = struct.pack("@ll", whole, int((seconds - whole) * 1_000_000))
        self.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, timeval)
        self.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, timeval)

    def recv(self, bufsize: int, flags: int = 0) -> bytes:
        if self._taken < len(self._ahead):
            start = self._taken
            self._taken = min(start + bufsize, len(self._ahead))
            return self._ahead[start : self._taken]
        try:
            data = super().recv(max(bufsize, READ_AHEAD), flags)
        except BlockingIOError as error:
            raise self._timed_out(error) from None
        if data and _TCP_QUICKACK is not None:
            self.setsockopt(socket.IPPROTO_TCP, _TCP_QUICKACK, 1)
        if len(data) <= bufsize:
            return data
        self._ahead, self._taken = data, bufsize
        return data[:bufsize]

    def send(self, data: Any, flags: int = 0) -> int:
        try:
            return super().send(data, flags)
        except BlockingIOError as error:
            raise self._timed_out(error) from None

    def sendall(self, data: Any, flags: int = 0) -> None:
        try:
            super().sendall(data, flags)
        except BlockingIOError as error:
            raise self._timed_out(error) from None

    def _timed_out(self, error: BlockingIOError) -> OSError:
        """The kernel's timeout, raised as Python's own timeout raises it; on a non-blocking
        socket (timeout 0) the error is what it says."""
        return TimeoutError("timed out") if self._timeout else error


@register_transport("ssh", "paramiko", "smart")
def ssh_transport(host: str, hostvars: Mapping[str, Any]) -> SSHTransport:
    """The transport factory: resolves settings, does not connect."""
    return SSHTransport(host, ssh_settings(host, hostvars))
