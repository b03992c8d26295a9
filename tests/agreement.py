"""The replay engine's standard-library validator (`replay.schema`) held against pydantic
(`replay.bundle.Manifest`), on a manifest and on seeded hostile variants of it.

Wherever the standard-library validator rules, it must rule as pydantic does: refuse
what pydantic refuses, and accept what it accepts with the same normal form. It may
defer to pydantic instead (it says so by returning None), which only costs time.
"""

from __future__ import annotations

import copy
import json
import random
from collections import Counter
from collections.abc import Iterator
from typing import Any

from pydantic import ValidationError

from replay import schema
from replay.bundle import Manifest
from replay.errors import UntrustedCaptureError

HOSTILE: list[Any] = [
    None, True, False, 0, 1, -1, 2, 1.5, 3.0, -0.0, 1e308, 2**64, -(10**30),
    "", "x", "3", "1.0", "true", "null", "../etc/passwd", "/etc/passwd", "a/../b", "a/./b", "a//b",
    "a\\b", "a\x00b", "a/b/", "0" * 64, "A" * 64, "g" * 64, "0" * 63, "0" * 64 + "\n",
    "3f9a2c81d0e4\n", "3F9A2C81D0E4", "failed", "passed", "script", "file", "dir", "json", "pickle",
    "\U0001f600", "x" * ((1 << 20) + 1), [], [1], ["x"], [None], {}, {"a": 1}, {"path": "a", "size": 1},
]
"""Values put in place of any member: wrong types, bad hashes and ids, paths escaping
their root, NUL bytes, the names of other enum members, a huge string."""

RAW: list[str] = [
    "NaN", "-Infinity", "1e400", "-0", "1E2", "9" * 5000, '"\\ud800"', '"\\udc00\\ud800"',
    '"\\ud83d\\ude00"', '"a\\\\ud800"', '"\\u0000"',
    *("[" * depth + "]" * depth for depth in (30, 70, 199, 250, 3000)),
    *('{"a":' * depth + "1" + "}" * depth for depth in (30, 199, 250)),
]
"""JSON texts that Python's parser and pydantic's may read differently: non-finite and
huge numbers, lone surrogates, deep nesting."""


def ruling(payload: bytes) -> str:
    """What both validators make of `payload` ("accepted", "refused" or "deferred" to
    pydantic); fails the test where they disagree."""
    try:
        doc = schema.validate(payload, origin="m")
        ours = "deferred" if doc is None else _canonical(doc)
    except UntrustedCaptureError as exc:
        assert "\n" not in str(exc) and str(exc).startswith("m: invalid manifest at ")
        ours = "refused"
    try:
        theirs = _canonical(Manifest.model_validate_json(payload).model_dump(mode="json"))
    except ValidationError:
        theirs = "refused"
    if ours == "deferred":
        return ours
    assert ours == theirs, f"standard library: {ours[:400]}\npydantic: {theirs[:400]}\nmanifest: {payload[:600]!r}"
    return "refused" if ours == "refused" else "accepted"


def _canonical(doc: dict[str, Any]) -> str:
    """Normal forms compared as JSON text: 3 and 3.0 (or 1 and True) are equal in Python."""
    return json.dumps(doc, sort_keys=True)


def agree_on_variants(payload: bytes, seed: int, count: int = 300) -> Counter[str]:
    """Both validators accept `payload` (the standard library without deferring), and
    agree on `count` variants of it made by a generator seeded with `seed`."""
    assert ruling(payload) == "accepted"
    assert schema.validate(payload, origin="m") is not None, "a manifest as written must not need pydantic"
    doc = json.loads(payload)
    rng = random.Random(seed)
    seen: Counter[str] = Counter()
    for n in range(count):
        variant = mutated(doc, rng)
        try:
            seen[ruling(variant)] += 1
        except AssertionError as exc:
            raise AssertionError(f"variant {n} of seed {seed}: {exc}") from None
    assert seen["deferred"] < count / 3, f"pydantic ruled on {seen['deferred']} of {count} variants"
    return seen


def mutated(doc: dict[str, Any], rng: random.Random) -> bytes:
    """A copy of `doc` with one to three members deleted, added or replaced (and now
    and then its bytes damaged)."""
    doc = copy.deepcopy(doc)
    raw: dict[str, str] = {}
    for _ in range(rng.choice((1, 1, 1, 2, 3))):
        _mutate(doc, rng, raw)
    text = json.dumps(doc)
    for sentinel, replacement in raw.items():
        text = text.replace(json.dumps(sentinel), replacement)
    payload = text.encode()
    if rng.random() < 0.05:
        payload = _damaged(payload, rng)
    return payload


def _places(value: Any) -> Iterator[tuple[Any, Any]]:
    """Every (container, key) of a JSON document."""
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, sub in items:
        yield value, key
        yield from _places(sub)


def _mutate(doc: dict[str, Any], rng: random.Random, raw: dict[str, str]) -> None:
    places = list(_places(doc))
    container, key = rng.choice(places)
    op = rng.randrange(6)
    if op == 0 and isinstance(container, dict):
        del container[key]
    elif op == 1 and isinstance(container, dict):
        container[rng.choice(("unexpected", "Id", "path", "data"))] = copy.deepcopy(rng.choice(HOSTILE))
    elif op == 2:
        other, other_key = rng.choice(places)
        container[key] = copy.deepcopy(other[other_key])
    elif op == 3:
        sentinel = f"raw-{len(raw)}"
        raw[sentinel] = rng.choice(RAW)
        container[key] = sentinel
    elif op == 4:
        container[key] = _nudged(container[key], rng)
    else:
        container[key] = copy.deepcopy(rng.choice(HOSTILE))


def _nudged(value: Any, rng: random.Random) -> Any:
    """A near miss of `value`: the same idea in another type, sign or spelling."""
    if isinstance(value, bool):
        return rng.choice((not value, int(value), str(value).lower(), None))
    if isinstance(value, int):
        return rng.choice((-value - 1, value + 2**63, float(value), str(value), value + 0.5))
    if isinstance(value, float):
        return rng.choice((int(value), -value, str(value), value * 1e300))
    if isinstance(value, str):
        return rng.choice((
            "", value + "/..", "/" + value, "../" + value, value.upper(), value + "\x00", value[:-1],
            value + "\n", " " + value, value.replace("/", "\\"), value * 3,
        ))
    if isinstance(value, list):
        return rng.choice(([], value + value[:1], [value], {str(i): v for i, v in enumerate(value)}))
    if isinstance(value, dict):
        return rng.choice(({}, list(value.values()), {**value, "": None}, json.dumps(value)))
    return rng.choice(("", 0, {}, []))


def _damaged(payload: bytes, rng: random.Random) -> bytes:
    at = rng.randrange(len(payload))
    return rng.choice((
        payload[:at],
        b"\xef\xbb\xbf" + payload,
        payload + b" x",
        payload + b" \n",
        payload[:at] + b"\xff" + payload[at + 1:],
        payload.replace(b"{", b'{"status": "failed", ', 1),
        payload.decode().encode("utf-16"),
    ))
