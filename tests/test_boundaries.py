"""The boundary mechanism in one process: record calls, then serve them without running."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from replay import boundaries
from replay.boundaries import UnrecordedCall, boundary
from replay.boundaries.keys import value_text
from replay.bundle import BoundaryCall
from replay.errors import ReplaySetupError, UsageError
from replay.store import LocalStore

REPO = Path(__file__).resolve().parent.parent


class Budget:
    def __init__(self, left: int = 1 << 30) -> None:
        self.left = left

    def take(self, size: int) -> bool:
        self.left -= size
        return self.left >= 0


@pytest.fixture(autouse=True)
def clean_controller() -> Iterator[None]:
    yield
    boundaries.stop()
    boundaries.unpatch_all()


def replayed(calls: list[BoundaryCall]) -> list[dict[str, Any]]:
    """The recorded calls as a replay reads them: the manifest's validated JSON."""
    return [c.model_dump(mode="json") for c in calls]


def record_then_replay(
    store: LocalStore, tmp_path: Path, step: object, *, trust: bool = False
) -> boundaries.Player:
    """Run `step` under a recorder, then switch to replaying what it recorded."""
    recorder = boundaries.start_recording()
    step()  # type: ignore[operator]
    calls = replayed(recorder.to_calls(store, Budget()))
    boundaries.stop()
    return boundaries.start_replaying(calls, store, trust=trust, workdir=tmp_path / "work")


def test_off_mode_just_calls_through() -> None:
    @boundary
    def double(x: int) -> int:
        return 2 * x

    assert boundaries.active() is None
    assert double(4) == 8
    assert double.__replay_boundary__ == f"{__name__}:test_off_mode_just_calls_through.<locals>.double"


def test_replayed_call_returns_the_recording_without_running(store: LocalStore, tmp_path: Path) -> None:
    marker = tmp_path / "fetched-from-network"

    @boundary(name="features")
    def fetch(day: str) -> dict[str, object]:
        marker.write_text(day)  # stands for the network: must not happen at replay
        return {"day": day, "rows": 3}

    record_then_replay(store, tmp_path, lambda: fetch("mon"))
    marker.unlink()
    assert fetch("mon") == {"day": "mon", "rows": 3}
    assert not marker.exists()


def test_nth_call_of_the_same_arguments_gets_the_nth_result(store: LocalStore, tmp_path: Path) -> None:
    counter = iter(range(100))

    @boundary
    def next_batch(source: str) -> int:
        return next(counter)

    player = record_then_replay(store, tmp_path, lambda: [next_batch("a"), next_batch("b"), next_batch("a")])
    assert [next_batch("a"), next_batch("a"), next_batch("b")] == [0, 2, 1]
    # A fixed step that goes further than the failed one gets the last recording again.
    assert next_batch("a") == 2
    assert player.served[-1]["repeated"] is True


def test_positional_and_keyword_spellings_match_one_recording(store: LocalStore, tmp_path: Path) -> None:
    @boundary
    def load(table: str, limit: int = 10) -> str:
        return f"{table}:{limit}"

    record_then_replay(store, tmp_path, lambda: load("users", limit=5))
    assert load(table="users", limit=5) == "users:5"
    assert load("users", 5) == "users:5"


def test_an_unrecorded_call_names_the_call_and_what_was_recorded(store: LocalStore, tmp_path: Path) -> None:
    @boundary(name="warehouse.query")
    def query(sql: str) -> list[int]:
        return [1]

    record_then_replay(store, tmp_path, lambda: query("select 1"))
    with pytest.raises(UnrecordedCall) as caught:
        query("select 2")
    message = str(caught.value)
    assert "warehouse.query(sql='select 2') was not recorded" in message
    assert "recorded calls of warehouse.query: (sql='select 1')" in message
    assert isinstance(caught.value, ReplaySetupError)


def test_a_recorded_exception_is_raised_again(store: LocalStore, tmp_path: Path) -> None:
    class TableMissing(LookupError):
        pass

    @boundary
    def read(name: str) -> None:
        raise TableMissing(f"no table {name}")

    def step() -> None:
        with pytest.raises(TableMissing):
            read("t1")

    record_then_replay(store, tmp_path, step)
    with pytest.raises(LookupError, match="no table t1") as caught:
        read("t1")
    assert type(caught.value).__name__ == "TableMissing"


def test_calls_made_inside_a_boundary_are_not_recorded(store: LocalStore, tmp_path: Path) -> None:
    @boundary
    def inner() -> int:
        return 1

    @boundary
    def outer() -> int:
        return inner() + 1

    recorder = boundaries.start_recording()
    outer()
    assert [c.name.rpartition(".")[2] for c in recorder.to_calls(store, Budget())] == ["outer"]


def test_object_reprs_with_addresses_give_one_key() -> None:
    class Client:
        pass

    first, second = value_text(Client()), value_text(Client())
    assert "0x…" in first and first == second


def test_methods_are_keyed_without_the_instance_address(store: LocalStore, tmp_path: Path) -> None:
    class Store:
        @boundary
        def get(self, key: str) -> str:
            return key.upper()

    record_then_replay(store, tmp_path, lambda: Store().get("k"))
    assert Store().get("k") == "K"


def test_pickled_results_are_refused_at_start_naming_the_calls(store: LocalStore, tmp_path: Path) -> None:
    @boundary(name="load_estimator")
    def load_estimator() -> complex:
        return complex(3, 4)

    recorder = boundaries.start_recording()
    load_estimator()
    calls = replayed(recorder.to_calls(store, Budget()))
    with pytest.raises(ReplaySetupError, match=r"load_estimator\(\).*pass --trust"):
        boundaries.start_replaying(calls, store, trust=False, workdir=tmp_path)
    boundaries.start_replaying(calls, store, trust=True, workdir=tmp_path)
    assert load_estimator() == complex(3, 4)


def test_recorded_input_paths_in_keys_follow_the_path_map(store: LocalStore, tmp_path: Path) -> None:
    @boundary
    def rows(path: str) -> int:
        return 7

    recorder = boundaries.start_recording()
    rows("/mnt/azureml/inputs/part-0.csv")
    calls = replayed(recorder.to_calls(store, Budget()))
    boundaries.start_replaying(
        calls, store, trust=False, workdir=tmp_path, path_map={"/mnt/azureml/inputs": "/work/in"}
    )
    assert rows("/work/in/part-0.csv") == 7


def test_results_are_kept_as_they_were_returned_not_as_mutated_later(
    store: LocalStore, tmp_path: Path
) -> None:
    import pandas as pd

    @boundary
    def frame() -> pd.DataFrame:
        return pd.DataFrame({"a": [1, 2]})

    @boundary
    def config() -> dict[str, int]:
        return {"x": 1}

    def step() -> None:
        df = frame()
        df["pred"] = 0
        config()["x"] = 99

    record_then_replay(store, tmp_path, step)
    assert list(frame().columns) == ["a"]
    assert config() == {"x": 1}


def test_importing_the_boundaries_loads_no_heavy_module() -> None:
    code = (
        "import sys, replay, replay.boundaries, replay.stubs\n"
        "replay.boundaries.start_recording(); replay.stubs.watch_sdk()\n"
        "@replay.boundaries.boundary\n"
        "def f(): return 1\n"
        "f()\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in "
        "('pandas', 'numpy', 'pyarrow', 'pydantic', 'textual', 'paramiko', 'debugpy', 'azureml'))\n"
        "print(heavy)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_dotted_names_patch_a_module_only_when_the_step_imports_it(
    store: LocalStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    package = tmp_path / "lazy_pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "loaders.py").write_text(
        "def load(x):\n    return x * 2\n\n"
        "class Reader:\n    @classmethod\n    def open(cls, name):\n        return name.upper()\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    recorder = boundaries.start_recording()
    boundaries.patch("lazy_pkg.loaders:load")
    boundaries.patch("lazy_pkg.loaders:Reader.open")
    assert "lazy_pkg.loaders" not in sys.modules
    try:
        import lazy_pkg.loaders as loaders

        assert loaders.load(2) == 4 and loaders.Reader.open("a") == "A"
        assert [(c.name, c.key) for c in recorder.to_calls(store, Budget())] == [
            ("lazy_pkg.loaders:load", "x=2"),
            ("lazy_pkg.loaders:Reader.open", "cls=<class 'lazy_pkg.loaders.Reader'>, name='a'"),
        ]
        boundaries.unpatch_all()
        assert not hasattr(loaders.load, "__replay_boundary__")
        assert not hasattr(loaders.Reader.open, "__replay_boundary__")
    finally:
        for name in ("lazy_pkg", "lazy_pkg.loaders"):
            sys.modules.pop(name, None)


def test_a_bad_configuration_is_noted_at_capture_and_refused_at_replay(
    store: LocalStore, tmp_path: Path
) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[tool.replay]\nboundaries = ["json:no_such_function", "not dotted"]\n'
    )
    recorder = boundaries.start_recording(tmp_path / "step.py")
    assert any("json has no no_such_function" in note for note in recorder.notes)
    assert any("'not dotted' is not of the form 'pkg.module:function'" in note for note in recorder.notes)
    boundaries.stop()
    boundaries.unpatch_all()
    with pytest.raises(UsageError, match="json has no no_such_function"):
        boundaries.start_replaying([], store, trust=False, workdir=tmp_path, config_from=tmp_path / "step.py")
