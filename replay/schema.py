"""The manifest's JSON Schema, and a standard-library validator that reads it.

`replay run` validates an untrusted manifest before it uses it. With pydantic, the first
run of a capture paid 250-300 ms for its import and its models, more than the rest of
the command. The models in `replay.bundle` stay the one description of the format:
`manifest.schema.json` beside this module is generated from them
(`python -m replay.schema --write`; a test fails when it drifts), and the checks that go
beyond JSON types are the functions of `replay.document.CHECKS`, which the models run
and the schema names (`x-replay-check`).

`validate` interprets the subset of JSON Schema those models produce, and rules only
where it agrees with pydantic by construction: it returns the same normal form as
`Manifest.model_validate_json(payload).model_dump(mode="json")`, or refuses what
pydantic refuses. Where pydantic's ruling could differ, it returns None and the caller
asks pydantic: a value of another scalar JSON type than the schema names (pydantic's lax
mode turns "3" or 3.0 into 3), text the standard JSON parser reads otherwise than
pydantic's (unparsable text, non-finite numbers, lone surrogates, deep nesting), or a
schema holding something this module does not know. Standard library only.
"""

from __future__ import annotations

import functools
import json
import os
import re

from replay.document import CHECK_KEY, CHECKS
from replay.errors import UntrustedCaptureError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from typing import Any

    Validator = Callable[[Any], Any]

SCHEMA_FILE = os.path.join(os.path.dirname(__file__), "manifest.schema.json")
ANY_DEPTH = 64
"""How deep free-form data (`extra`, a recorded value) may nest here; pydantic's JSON
parser stops at 200 levels in all, and deeper data is left to it."""

_LONE_SURROGATE = re.compile(
    rb"\\u[dD][89abAB][0-9a-fA-F]{2}(?!\\u[dD][c-fC-F])"
    rb"|(?<!\\u[dD][89abAB][0-9a-fA-F]{2})\\u[dD][c-fC-F]"
)
"""A `\\uD800`-`\\uDFFF` escape that is not half of a pair: Python's parser keeps it,
pydantic's refuses it. (A false alarm, on an escaped backslash, only defers to pydantic.)"""

_ANNOTATIONS = frozenset({"title", "description", "default"})
_JSON_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,), "integer": (int,), "number": (float, int), "boolean": (bool,),
    "array": (list,), "object": (dict,), "null": (type(None),),
}


class _Undecided(Exception):
    """pydantic must rule on this manifest (or this schema)."""


class _Invalid(Exception):
    """The manifest is invalid at `path` (filled in as the error rises)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
        self.path: list[str] = []


def validate(payload: bytes, origin: str) -> dict[str, Any] | None:
    """The manifest's normal form, or None when pydantic must rule. Raises
    UntrustedCaptureError, naming the field, for a manifest pydantic refuses too."""
    try:
        check = _compiled()
        if _LONE_SURROGATE.search(payload):
            raise _Undecided
        doc = json.loads(payload.decode(), parse_constant=_undecided, parse_float=_finite)
        return check(doc)  # type: ignore[no-any-return]
    except (_Undecided, ValueError, RecursionError):
        return None
    except _Invalid as exc:
        where = ".".join(reversed(exc.path)) or "manifest"
        raise UntrustedCaptureError(f"{origin}: invalid manifest at {where}: {exc.message}") from None


def _undecided(text: str) -> float:
    raise _Undecided  # NaN and Infinity: pydantic keeps them in a float, drops them elsewhere


def _finite(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):  # 1e400
        raise _Undecided
    return value


@functools.cache
def _compiled() -> Validator:
    try:
        with open(SCHEMA_FILE, "rb") as f:
            schema = json.load(f)
    except (OSError, ValueError):
        raise _Undecided from None  # not installed, or unreadable: pydantic has the models
    return _Compiler(schema.pop("$defs", {})).compile(schema)


class _Compiler:
    """Turns schema nodes into validators: functions from a parsed JSON value to its
    normal form that raise `_Invalid` or `_Undecided`."""

    def __init__(self, defs: Mapping[str, Any]) -> None:
        self.defs = defs
        self.done: dict[str, Validator] = {}

    def compile(self, node: Mapping[str, Any]) -> Validator:
        keys = node.keys() - _ANNOTATIONS
        if keys == {"$ref"}:
            return self._ref(node["$ref"])
        if keys == {"anyOf"}:
            return self._nullable(node["anyOf"])
        if not keys:
            return _free
        kind = node.get("type")
        if kind == "object" and "properties" in node:
            return self._model(node)
        if kind == "object":
            return self._mapping(node)
        if kind == "array" and keys == {"type", "items"}:
            return _array(self.compile(node["items"]))
        if kind in ("string", "integer", "number", "boolean"):
            return self._scalar(node)
        raise _Undecided  # a construct these models never produced so far

    def _ref(self, ref: str) -> Validator:
        name = ref.removeprefix("#/$defs/")
        if name not in self.done:
            if name == ref or name not in self.defs:
                raise _Undecided
            self.done[name] = _unresolved
            self.done[name] = self.compile(self.defs[name])
        compiled = self.done[name]
        if compiled is _unresolved:  # a model that contains itself
            raise _Undecided
        return compiled

    def _nullable(self, branches: list[Mapping[str, Any]]) -> Validator:
        """`X | None`, the only union these models have."""
        if len(branches) != 2 or branches[1] != {"type": "null"}:
            raise _Undecided
        inner = self.compile(branches[0])
        return lambda value: None if value is None else inner(value)

    def _model(self, node: Mapping[str, Any]) -> Validator:
        keys = node.keys() - _ANNOTATIONS
        if not keys <= {"type", "properties", "required", "additionalProperties"} or (
            node.get("additionalProperties") is not False  # extra="forbid"
        ):
            raise _Undecided
        fields = {name: self.compile(sub) for name, sub in node["properties"].items()}
        required = frozenset(node.get("required", ()))
        defaults = {name: sub["default"] for name, sub in node["properties"].items()
                    if name not in required and "default" in sub}
        if not required <= fields.keys() or required | defaults.keys() != fields.keys():
            raise _Undecided  # a field with neither a value nor a default

        def model(value: Any) -> dict[str, Any]:
            _expect(value, dict, "a valid dictionary or object")
            if unknown := value.keys() - fields.keys():
                raise _at(min(unknown), _Invalid("Extra inputs are not permitted"))
            normal: dict[str, Any] = {}
            for name, field in fields.items():
                if name in value:
                    try:
                        normal[name] = field(value[name])
                    except _Invalid as exc:
                        raise _at(name, exc) from None
                elif name in required:
                    raise _at(name, _Invalid("Field required"))
                else:
                    normal[name] = _fresh(defaults[name])
            return normal

        return model

    def _mapping(self, node: Mapping[str, Any]) -> Validator:
        """`dict[str, X]`: JSON object keys are strings already."""
        if node.keys() - _ANNOTATIONS != {"type", "additionalProperties"}:
            raise _Undecided
        values = node["additionalProperties"]
        if values is True:
            return _free_mapping
        item = self.compile(values)

        def mapping(value: Any) -> dict[str, Any]:
            _expect(value, dict, "a valid dictionary")
            normal = {}
            for key, sub in value.items():
                try:
                    normal[key] = item(sub)
                except _Invalid as exc:
                    raise _at(key, exc) from None
            return normal

        return mapping

    def _scalar(self, node: Mapping[str, Any]) -> Validator:
        kind = node["type"]
        keys = node.keys() - _ANNOTATIONS - {"type"}
        if keys - {"enum", "minimum", CHECK_KEY}:
            raise _Undecided
        accepted = _JSON_TYPES[kind]
        enum = node.get("enum")
        if enum is not None and (kind != "string" or not all(isinstance(e, str) for e in enum)):
            raise _Undecided
        minimum = node.get("minimum")
        if minimum is not None and (kind != "integer" or type(minimum) is not int):
            raise _Undecided
        check = CHECKS.get(node[CHECK_KEY]) if CHECK_KEY in node else None
        if CHECK_KEY in node and check is None:
            raise _Undecided  # a check this replay does not have
        expected = {"string": "a valid string", "integer": "a valid integer",
                    "number": "a valid number", "boolean": "a valid boolean"}[kind]

        def scalar(value: Any) -> Any:
            if type(value) not in accepted:  # type(), not isinstance(): True is no integer
                _mismatch(value, expected)
            if kind == "number" and type(value) is int:
                try:
                    value = float(value)
                except OverflowError:
                    raise _Undecided from None
            if enum is not None and value not in enum:
                raise _Invalid("Input should be " + " or ".join(repr(e) for e in enum))
            if minimum is not None and value < minimum:
                raise _Invalid(f"Input should be greater than or equal to {minimum}")
            if check is not None:
                try:
                    check(value)
                except ValueError as exc:
                    raise _Invalid(f"Value error, {exc}") from None
            return value

        return scalar


def _unresolved(value: Any) -> Any:
    raise _Undecided


def _at(key: str | int, exc: _Invalid) -> _Invalid:
    exc.path.append(str(key))
    return exc


def _expect(value: Any, kind: type[list[Any] | dict[str, Any]], expected: str) -> None:
    """An array or an object: pydantic accepts nothing else in their place."""
    if type(value) is not kind:
        raise _Invalid(f"Input should be {expected}")


def _mismatch(value: Any, expected: str) -> None:
    """A scalar of another JSON type than the schema names. pydantic refuses null, an
    array or an object; between scalars its lax mode converts some values ("3" to 3),
    so pydantic rules."""
    if value is None or type(value) in (list, dict):
        raise _Invalid(f"Input should be {expected}")
    raise _Undecided


def _array(item: Validator) -> Validator:
    def array(value: Any) -> list[Any]:
        _expect(value, list, "a valid list")
        normal = []
        for index, sub in enumerate(value):
            try:
                normal.append(item(sub))
            except _Invalid as exc:
                raise _at(index, exc) from None
        return normal

    return array


def _free(value: Any) -> Any:
    """`Any`: JSON as parsed, unless it nests deeper than pydantic's parser may allow."""
    _shallow(value, ANY_DEPTH)
    return value


def _free_mapping(value: Any) -> dict[str, Any]:
    """`dict[str, Any]`."""
    _expect(value, dict, "a valid dictionary")
    _shallow(value, ANY_DEPTH)
    return value  # type: ignore[no-any-return]


def _shallow(value: Any, depth: int) -> None:
    if type(value) is dict:
        value = value.values()
    elif type(value) is not list:
        return
    if depth == 0:
        raise _Undecided
    for sub in value:
        _shallow(sub, depth - 1)


def _fresh(default: Any) -> Any:
    """A copy of a default that nobody else holds (the caller may change its document)."""
    if type(default) is dict:
        return {key: _fresh(sub) for key, sub in default.items()}
    if type(default) is list:
        return [_fresh(sub) for sub in default]
    return default


def generate() -> str:
    """The JSON Schema of `replay.bundle.Manifest`, as `manifest.schema.json` holds it."""
    from replay.bundle import Manifest

    return json.dumps(Manifest.model_json_schema(), indent=1) + "\n"


def main(argv: list[str] | None = None) -> int:
    """`python -m replay.schema [--write]`: print the schema the models generate now, or
    write it to `manifest.schema.json` (after changing `replay.bundle`)."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m replay.schema", description=main.__doc__)
    parser.add_argument("--write", action="store_true", help=f"write {SCHEMA_FILE}")
    text = generate()
    if parser.parse_args(argv).write:
        with open(SCHEMA_FILE, "w") as f:
            f.write(text)
    else:
        print(text, end="")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
