"""DAP framing: bytes in, messages out, with no socket involved."""

from __future__ import annotations

import json

import pytest

from replay.dap.errors import DapProtocolError
from replay.dap.framing import MAX_HEADER_BYTES, FrameDecoder, encode

STOPPED = {"seq": 7, "type": "event", "event": "stopped", "body": {"reason": "breakpoint", "threadId": 1}}
INITIALIZED = {"seq": 8, "type": "event", "event": "initialized"}


def frame(body: bytes, header: bytes | None = None) -> bytes:
    return (header if header is not None else b"Content-Length: %d" % len(body)) + b"\r\n\r\n" + body


def test_encode_writes_header_and_body_as_one_bytes_object() -> None:
    data = encode(STOPPED)

    header, _, body = data.partition(b"\r\n\r\n")
    assert isinstance(data, bytes)
    assert header == b"Content-Length: %d" % len(body)
    assert json.loads(body) == STOPPED


def test_content_length_counts_utf8_bytes_not_characters() -> None:
    message = {"seq": 1, "type": "event", "event": "output", "body": {"output": "naïve 数据 🚀\n"}}

    data = encode(message)

    header, _, body = data.partition(b"\r\n\r\n")
    assert header == b"Content-Length: %d" % len(body)
    assert len(body) > len(body.decode("utf-8"))
    assert FrameDecoder().feed(data) == [message]


def test_a_message_split_into_single_bytes_is_decoded_once_complete() -> None:
    decoder = FrameDecoder()
    data = encode({"seq": 1, "type": "event", "event": "output", "body": {"output": "é🚀"}})

    decoded = [decoder.feed(data[i : i + 1]) for i in range(len(data))]

    assert decoded[:-1] == [[]] * (len(data) - 1)
    assert decoded[-1][0]["body"]["output"] == "é🚀"


def test_messages_merged_into_one_chunk_come_out_in_order() -> None:
    assert FrameDecoder().feed(encode(INITIALIZED) + encode(STOPPED) + encode(INITIALIZED)) == [
        INITIALIZED,
        STOPPED,
        INITIALIZED,
    ]


def test_a_chunk_ending_mid_header_keeps_the_rest_for_later() -> None:
    decoder = FrameDecoder()
    data = encode(INITIALIZED) + encode(STOPPED)
    cut = len(encode(INITIALIZED)) + 5  # inside the second header

    assert decoder.feed(data[:cut]) == [INITIALIZED]
    assert decoder.feed(data[cut:]) == [STOPPED]


def test_header_name_is_case_insensitive_and_other_headers_are_ignored() -> None:
    body = json.dumps(INITIALIZED).encode()
    header = b"content-length: %d\r\nContent-Type: application/vscode-jsonrpc" % len(body)

    assert FrameDecoder().feed(frame(body, header)) == [INITIALIZED]


def test_oversize_message_is_refused_before_its_body_is_buffered() -> None:
    decoder = FrameDecoder(max_body_bytes=100)

    with pytest.raises(DapProtocolError, match="exceeds the 100-byte cap"):
        decoder.feed(b"Content-Length: 101\r\n\r\n")


@pytest.mark.parametrize(
    ("header", "error"),
    [
        (b"Content-Length: -5", "not a decimal number"),
        (b"Content-Length: 1e3", "not a decimal number"),
        (b"Content-Length:", "not a decimal number"),
        (b"Content-Type: json", "expected one Content-Length header, got 0"),
        (b"Content-Length: 2\r\nContent-Length: 2", "expected one Content-Length header, got 2"),
        (b"Content-Length 2", "header line without ':'"),
        (b"Content-L\xe9ngth: 2", "not ASCII"),
    ],
)
def test_malformed_header_is_a_protocol_error(header: bytes, error: str) -> None:
    with pytest.raises(DapProtocolError, match=error):
        FrameDecoder().feed(frame(b"{}", header))


def test_a_header_that_never_ends_is_a_protocol_error() -> None:
    with pytest.raises(DapProtocolError, match="no end of header"):
        FrameDecoder().feed(b"X" * (MAX_HEADER_BYTES + 4))


@pytest.mark.parametrize(
    ("body", "error"),
    [(b"{not json}", "not UTF-8 JSON"), (b'"\xff"', "not UTF-8 JSON"), (b"[1, 2]", "not a JSON object")],
)
def test_a_body_that_is_not_a_json_object_is_a_protocol_error(body: bytes, error: str) -> None:
    with pytest.raises(DapProtocolError, match=error):
        FrameDecoder().feed(frame(body))
