"""What every transport shares: waiting for something to read."""

from __future__ import annotations

import os
import socket

from engine.transports.base import readable


def test_readable_names_the_sources_with_something_to_read(many_descriptors: None) -> None:
    writer, reader = socket.socketpair()
    # select() cannot watch a descriptor numbered 1024 or more; a fleet's process has them.
    high = socket.socket(fileno=os.dup2(reader.fileno(), 3000))
    quiet_writer, quiet = socket.socketpair()
    with writer, reader, high, quiet_writer, quiet:
        assert readable([high, quiet], 0) == []
        writer.send(b"x")
        assert readable([high, quiet], 5) == [high]
