"""The agent writes and reads JSON through `json`'s own C encoder and parser without
importing `json` (which loads `re`): what it writes and reads must be exactly what
`json` would, and anything else must be refused the same way."""

from __future__ import annotations

import json
import math
import random
import subprocess
import sys

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


MALFORMED = ["", "nope", "[1,", "[1] 2", '{"a":1}}', "nul", "{'a':1}", '{"a" 1}', '"abc', '"\\x"', '{"a":1,}']


def test_anything_but_a_json_text_is_refused_as_json_refuses_it() -> None:
    """In a process that has not loaded `json` (as the agent's has not), where the C
    parser alone cannot say what is wrong."""
    code = (
        "import sys\n"
        "from replay.document import loads\n"
        f"for text in {MALFORMED!r}:\n"
        "    assert 'json' not in sys.modules\n"
        "    try:\n"
        "        loads(text)\n"
        "    except ValueError as exc:\n"
        "        print(type(exc).__name__)\n"
        "    for name in [m for m in sys.modules if m.split('.')[0] == 'json']:\n"
        "        del sys.modules[name]\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["JSONDecodeError"] * len(MALFORMED)


def test_what_json_reads_is_read_whitespace_included() -> None:
    assert loads(' [1, {"a": null}] \n') == [1, {"a": None}]


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
