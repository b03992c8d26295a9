"""DAP wire framing: `Content-Length: N\\r\\n\\r\\n` then N bytes of UTF-8 JSON.

This module does no I/O, so every way a stream can be split, merged or broken is tested
by feeding bytes. The client owns the socket and hands whatever `recv()` returned to a
`FrameDecoder`.
"""

from __future__ import annotations

import json
from typing import Any

from replay.dap.errors import DapProtocolError

Message = dict[str, Any]
"""One decoded DAP message (request, response or event), as JSON gives it."""

MAX_BODY_BYTES = 64 * 1024 * 1024
"""Largest body accepted. A corrupt or hostile length must not make us buffer gigabytes;
real debugpy messages (a big `variables` or `output` reply) stay far below this."""

MAX_HEADER_BYTES = 1024
"""A DAP header is one short `Content-Length` line; anything longer is a desynced stream."""

_HEADER_END = b"\r\n\r\n"
_CONTENT_LENGTH = "content-length"


def encode(message: Message) -> bytes:
    """Frame `message` as header and body in one `bytes`.

    One object means one `send()`: a header sent apart from its body waits on Nagle's
    algorithm and the peer's delayed ACK, about 40 ms per request on loopback.
    """
    body = json.dumps(message, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return b"Content-Length: %d\r\n\r\n%s" % (len(body), body)


class FrameDecoder:
    """Turns arbitrary chunks of a DAP byte stream into whole messages.

    After a `DapProtocolError` the stream is out of sync and the decoder must be dropped
    along with its connection.
    """

    def __init__(self, max_body_bytes: int = MAX_BODY_BYTES) -> None:
        self._max_body_bytes = max_body_bytes
        self._buffer = bytearray()
        self._body_length: int | None = None

    def feed(self, data: bytes) -> list[Message]:
        """Add `data` and return every message it completes, in stream order."""
        self._buffer += data
        messages = []
        while (message := self._next_message()) is not None:
            messages.append(message)
        return messages

    def _next_message(self) -> Message | None:
        if self._body_length is None:
            end = self._buffer.find(_HEADER_END, 0, MAX_HEADER_BYTES + len(_HEADER_END))
            if end < 0:
                if len(self._buffer) >= MAX_HEADER_BYTES + len(_HEADER_END):
                    raise DapProtocolError(
                        f"no end of header within {MAX_HEADER_BYTES} bytes: {bytes(self._buffer[:40])!r}..."
                    )
                return None
            self._body_length = parse_header(bytes(self._buffer[:end]), self._max_body_bytes)
            del self._buffer[: end + len(_HEADER_END)]
        if len(self._buffer) < self._body_length:
            return None
        body = bytes(self._buffer[: self._body_length])
        del self._buffer[: self._body_length]
        self._body_length = None
        return decode_body(body)


def parse_header(header: bytes, max_body_bytes: int = MAX_BODY_BYTES) -> int:
    """Return the body length that `header` (without its blank line) announces."""
    try:
        text = header.decode("ascii")
    except UnicodeDecodeError:
        raise DapProtocolError(f"header is not ASCII: {header!r}") from None
    lengths = []
    for line in text.split("\r\n"):
        name, colon, value = line.partition(":")
        if not colon:
            raise DapProtocolError(f"header line without ':': {line!r}")
        if name.strip().lower() == _CONTENT_LENGTH:
            lengths.append(value.strip())
    if len(lengths) != 1:
        raise DapProtocolError(f"expected one Content-Length header, got {len(lengths)}: {text!r}")
    (value,) = lengths
    if not value.isdigit():
        raise DapProtocolError(f"Content-Length is not a decimal number: {value!r}")
    length = int(value)
    if length > max_body_bytes:
        raise DapProtocolError(f"message of {length} bytes exceeds the {max_body_bytes}-byte cap")
    return length


def decode_body(body: bytes) -> Message:
    """Parse one body, which must be a JSON object."""
    try:
        message = json.loads(body)
    except ValueError as exc:  # includes UnicodeDecodeError
        raise DapProtocolError(f"body is not UTF-8 JSON: {exc}") from None
    if not isinstance(message, dict):
        raise DapProtocolError(f"body is not a JSON object: {type(message).__name__}")
    return message
