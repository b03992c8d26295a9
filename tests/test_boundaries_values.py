"""Recorded results survive encode -> store -> decode in their own form, and no pickle
is ever loaded without trust."""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from replay.boundaries import snapshot
from replay.boundaries.values import RecordedError, decode, encode
from replay.bundle import BoundaryCall, Value
from replay.errors import ReplaySetupError, UntrustedCaptureError
from replay.store import LocalStore


class Budget:
    def __init__(self, left: int) -> None:
        self.left = left

    def take(self, size: int) -> bool:
        if size > self.left:
            return False
        self.left -= size
        return True


def round_trip(
    value: object, store: LocalStore, tmp_path: Path, *, trust: bool = False, budget: int = 1 << 30
) -> tuple[Value, object]:
    encoded = encode(value, store, Budget(budget))
    # What the manifest holds is JSON: go through it, as a capture on disk would.
    stored = BoundaryCall.model_validate_json(
        BoundaryCall(seq=0, name="n", key="", result=encoded).model_dump_json()
    ).result
    replayed = stored.model_dump(mode="json")  # what a replay reads: the manifest's validated JSON
    return stored, decode(replayed, store, trust=trust, workdir=tmp_path / "work", label="load(1)")


def test_plain_values_round_trip_as_json_with_their_types(store: LocalStore, tmp_path: Path) -> None:
    value = {
        "a": [1, 2.5, None, True],
        "t": (1, ("x",)),
        3: "int key",
        "$t": "looks like a tag",
        "big": 10**30,
    }
    stored, back = round_trip(value, store, tmp_path)
    assert stored.kind == "json" and stored.blob is None
    assert back == value
    assert type(back["t"]) is tuple and type(back["t"][1]) is tuple


def test_non_finite_floats_and_paths_survive(store: LocalStore, tmp_path: Path) -> None:
    stored, back = round_trip(
        [float("nan"), float("inf"), -math.inf, Path("/no/such/place")], store, tmp_path
    )
    assert stored.kind == "json"
    assert math.isnan(back[0]) and back[1:3] == [math.inf, -math.inf]
    assert back[3] == Path("/no/such/place")


def test_large_json_goes_to_a_blob_not_the_manifest(store: LocalStore, tmp_path: Path) -> None:
    value = ["x" * 100] * 1000
    stored, back = round_trip(value, store, tmp_path)
    assert stored.kind == "json" and stored.blob is not None and stored.data is None
    assert back == value


def test_dataframe_round_trips_through_parquet(store: LocalStore, tmp_path: Path) -> None:
    df = pd.DataFrame(
        {"id": [1, 2, 3], "score": [0.5, None, 2.0], "name": ["a", "b", "c"]},
        index=pd.Index([10, 20, 30], name="row"),
    )
    stored, back = round_trip(df, store, tmp_path)
    assert stored.kind == "parquet" and stored.type == "pandas.DataFrame"
    assert store.read_blob(stored.blob or "")[:4] == b"PAR1"
    pd.testing.assert_frame_equal(back, df)


def test_series_round_trips_with_its_name(store: LocalStore, tmp_path: Path) -> None:
    series = pd.Series([1.0, 2.0], name="price")
    stored, back = round_trip(series, store, tmp_path)
    assert stored.kind == "parquet"
    pd.testing.assert_series_equal(back, series)


def test_arrays_round_trip_as_npy_without_pickle(store: LocalStore, tmp_path: Path) -> None:
    array = np.arange(12, dtype=np.float32).reshape(3, 4)
    stored, back = round_trip(array, store, tmp_path)
    assert stored.kind == "npy"
    assert back.dtype == np.float32 and np.array_equal(back, array)
    _, scalar = round_trip(np.int64(7), store, tmp_path)
    assert scalar == 7 and isinstance(scalar, np.int64)


def test_existing_file_is_copied_and_rebuilt_under_the_work_folder(store: LocalStore, tmp_path: Path) -> None:
    model = tmp_path / "models" / "model.pkl"
    model.parent.mkdir()
    model.write_bytes(b"weights")
    stored, back = round_trip(str(model), store, tmp_path)
    model.unlink()
    assert stored.kind == "file" and stored.data["path"] == str(model)
    assert isinstance(back, str) and back.startswith(str(tmp_path / "work"))
    assert os.path.basename(back) == "model.pkl" and Path(back).read_bytes() == b"weights"


def test_existing_folder_is_rebuilt_with_its_tree(store: LocalStore, tmp_path: Path) -> None:
    folder = tmp_path / "bert"
    (folder / "tokenizer").mkdir(parents=True)
    (folder / "config.json").write_text("{}")
    (folder / "tokenizer" / "vocab.txt").write_text("a\nb\n")
    stored, back = round_trip(folder, store, tmp_path)
    assert stored.kind == "dir" and isinstance(back, Path) and back.name == "bert"
    assert sorted(p.relative_to(back).as_posix() for p in back.rglob("*") if p.is_file()) == [
        "config.json",
        "tokenizer/vocab.txt",
    ]
    # Served twice, rebuilt once: the place is named by content.
    again = decode(stored.model_dump(mode="json"), store, trust=False, workdir=tmp_path / "work")
    assert again == back


def test_file_over_the_budget_is_recorded_but_refused_by_name_at_replay(
    store: LocalStore, tmp_path: Path
) -> None:
    big = tmp_path / "big.bin"
    big.write_bytes(b"x" * 1000)
    stored = encode(str(big), store, Budget(100))
    assert stored.kind == "file" and not stored.files[0].copied
    with pytest.raises(ReplaySetupError, match=r"load\(1\).*big.bin was not copied.*budget"):
        decode(stored.model_dump(mode="json"), store, trust=False, workdir=tmp_path / "work", label="load(1)")


def test_exceptions_come_back_with_their_type_name_and_message(store: LocalStore, tmp_path: Path) -> None:
    class ModelNotFoundException(ValueError):
        pass

    stored, back = round_trip(snapshot.take_error(ModelNotFoundException("no model 'm'")), store, tmp_path)
    assert stored.kind == "error"
    assert isinstance(back, RecordedError) and isinstance(back, ValueError)
    assert type(back).__name__ == "ModelNotFoundException" and type(back).__module__ == __name__
    assert str(back) == "no model 'm'"
    _, builtin = round_trip(snapshot.take_error(FileNotFoundError(2, "No such file", "/x")), store, tmp_path)
    assert type(builtin) is FileNotFoundError and builtin.filename == "/x"


def test_pickle_is_the_last_resort_and_refused_without_trust(store: LocalStore, tmp_path: Path) -> None:
    value = complex(1, 2)
    stored = encode(value, store, Budget(1 << 20))
    assert stored.kind == "pickle"
    with pytest.raises(ReplaySetupError, match=r"load\(1\) returned a pickle.*--trust"):
        decode(stored.model_dump(mode="json"), store, trust=False, workdir=tmp_path, label="load(1)")
    assert decode(stored.model_dump(mode="json"), store, trust=True, workdir=tmp_path) == value


def test_unserialisable_result_is_recorded_as_not_kept(store: LocalStore, tmp_path: Path) -> None:
    stored = encode(lambda: None, store, Budget(1 << 20))
    assert stored.kind == "none" and "cannot be serialised" in stored.data["reason"]
    with pytest.raises(ReplaySetupError, match="was not kept at capture"):
        decode(stored.model_dump(mode="json"), store, trust=True, workdir=tmp_path, label="f()")


def test_a_hostile_tag_is_an_untrusted_capture_not_a_crash(store: LocalStore, tmp_path: Path) -> None:
    bad = Value(kind="json", data={"$t": "dict", "v": [[["unhashable"], 1]]})
    with pytest.raises(UntrustedCaptureError, match="malformed"):
        decode(bad.model_dump(mode="json"), store, trust=False, workdir=tmp_path)
