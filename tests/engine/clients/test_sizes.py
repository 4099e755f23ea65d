"""The bounded head-and-tail buffer every command output and HTTP body goes through."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from engine.clients.sizes import HeadTail

chunks = st.lists(st.binary(max_size=300), max_size=30)
limits = st.integers(min_value=0, max_value=200)


@given(chunks, limits, limits)
def test_keeps_the_first_head_and_last_tail_bytes_and_counts_the_rest(
    written: list[bytes], head: int, tail: int
) -> None:
    buffer = HeadTail(head, tail)
    for chunk in written:
        buffer.write(chunk)
    whole = b"".join(written)
    kept_head = whole[:head]
    kept_tail = whole[len(kept_head) :][-tail:] if tail else b""
    assert buffer.total == len(whole)
    assert buffer.dropped == len(whole) - len(kept_head) - len(kept_tail)
    assert buffer.truncated == (buffer.dropped > 0)
    if buffer.truncated:
        marker = f"\n[... {buffer.dropped} bytes dropped ...]\n"
        assert buffer.text() == kept_head.decode(errors="replace") + marker + kept_tail.decode(
            errors="replace"
        )
    else:
        assert buffer.text() == whole.decode(errors="replace")


def test_memory_is_bounded_by_head_and_tail_however_much_is_written() -> None:
    buffer = HeadTail(10, 10)
    for _ in range(1000):
        buffer.write(b"x" * 1000)
    assert len(buffer.text().encode()) <= 20 + len("\n[... 999980 bytes dropped ...]\n")
    assert buffer.dropped == 1_000_000 - 20
