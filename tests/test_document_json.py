"""The agent writes and reads JSON through `json`'s own C encoder and parser without
importing `json` (which loads `re`): what it writes and reads must be exactly what
`json` would, and anything else must be refused the same way."""

from __future__ import annotations

import json
import math
import random

import pytest

from replay.document import Encoded, dumps, encode, loads


def _value(rng: random.Random, depth: int = 0) -> object:
    roll = rng.random()
    if depth > 4 or roll < 0.5:
        return rng.choice([
            None, True, False, 0, -(2**70), rng.randint(-10**9, 10**9), rng.random() * 10 ** rng.randint(-30, 30),
            -0.0, math.inf, "".join(chr(rng.randint(0, 0xD7FF)) for _ in range(rng.randint(0, 8))),
            'quote " backslash \\ newline \n nul \0 é \U0001f511',
        ])
    if roll < 0.75:
        return [_value(rng, depth + 1) for _ in range(rng.randint(0, 5))]
    return {"".join(rng.choice('ab"é\n') for _ in range(3)): _value(rng, depth + 1) for _ in range(rng.randint(0, 5))}


def test_written_and_read_as_json_writes_and_reads() -> None:
    rng = random.Random(5)
    for _ in range(5_000):
        value = _value(rng)
        text = dumps(value)
        assert text == json.dumps(value, separators=(",", ":"))
        assert loads(text) == json.loads(text)
    assert math.isnan(loads(dumps(math.nan)))
    assert dumps({1: (2, 3)}) == '{"1":[2,3]}'


@pytest.mark.parametrize("text", ["", "nope", "[1,", "[1] 2", " [1]", '{"a":1}}', "nul", "{'a':1}"])
def test_anything_but_one_json_value_is_refused(text: str) -> None:
    with pytest.raises(ValueError):
        loads(text)


def test_too_deep_a_text_is_refused_not_crashed_on() -> None:
    with pytest.raises(RecursionError):
        loads("[" * 100_000)


def test_what_json_cannot_hold_is_refused_by_type() -> None:
    with pytest.raises(TypeError, match="Object of type set is not JSON serializable"):
        dumps({"a": {1, 2}})


def test_encoded_parts_are_spliced_in_whole() -> None:
    part = Encoded('[{"path":"a"}]', {"0" * 64: 1})
    written = encode({"files": part, "note": "\0replay-encoded"})
    assert written == b'{"files":[{"path":"a"}],"note":"\\u0000replay-encoded"}'
