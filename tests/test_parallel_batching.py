"""Mini-batch planning: file counts, byte sizes that never cross a file, partitions."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from replay.errors import UsageError
from replay.parallel.batching import (
    FileMiniBatch,
    TabularMiniBatch,
    line_ranges,
    plan,
    read_minibatch,
)
from replay.parallel.config import ParallelRunConfig, resolve_config

FIXTURES = Path(__file__).parent / "fixtures" / "parallel"


def job_for(tmp_path: Path, inputs: list[Path], **kw: object):
    cfg = ParallelRunConfig(
        entry_script=str(FIXTURES / "partition_score.py"),
        inputs=[str(i) for i in inputs],
        error_threshold=-1,
        output_action="append_row",
        **kw,  # type: ignore[arg-type]
    )
    return resolve_config(cfg, cwd=tmp_path)


def frame(rows: int, start: int = 0) -> pd.DataFrame:
    return pd.DataFrame(
        {"id": range(start, start + rows), "x1": [i * 0.5 for i in range(rows)],
         "word": [f"w{i % 7}" for i in range(rows)], "genre": [("rock", "jazz", "pop")[i % 3] for i in range(rows)]}
    )


def test_file_batches_hold_n_paths_in_path_order(tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    for i in range(25):
        (folder / f"f{i:02d}.txt").write_text("x")
    batches = plan(job_for(tmp_path, [folder], mini_batch_size=10))
    assert [len(b.files) for b in batches] == [10, 10, 5]  # type: ignore[union-attr]
    assert [b.index for b in batches] == [0, 1, 2]
    assert read_minibatch(batches[0]) == [str(folder / f"f{i:02d}.txt") for i in range(10)]


def test_the_default_file_batch_is_ten_files(tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    for i in range(21):
        (folder / f"f{i:02d}.txt").write_text("x")
    assert [len(b.files) for b in plan(job_for(tmp_path, [folder]))] == [10, 10, 1]  # type: ignore[union-attr]


def test_a_small_table_is_one_mini_batch_and_a_big_one_is_split(tmp_path: Path) -> None:
    small, big = tmp_path / "a_small.csv", tmp_path / "b_big.csv"
    frame(20).to_csv(small, index=False)
    frame(3000, start=100).to_csv(big, index=False)
    size = 8 * 1024
    batches = plan(job_for(tmp_path, [small, big], mini_batch_size=f"{size // 1024}KB"))
    assert isinstance(batches[0], TabularMiniBatch)
    assert [b.path for b in batches].count(str(small)) == 1  # type: ignore[union-attr]
    big_batches = [b for b in batches if b.path == str(big)]  # type: ignore[union-attr]
    header = len("id,x1,word,genre\n")
    body = big.stat().st_size - header
    assert body // size <= len(big_batches) <= -(-body // size)  # each cut runs on to a line end
    assert sum(b.pieces[0].stop - b.pieces[0].start for b in big_batches) == big.stat().st_size - header  # type: ignore[union-attr]
    assert all(len(b.pieces) == 1 for b in batches)  # type: ignore[union-attr]
    # every cut falls after a newline, and each piece is about the asked size
    data = big.read_bytes()
    for b in big_batches:
        piece = b.pieces[0]  # type: ignore[union-attr]
        assert data[piece.stop - 1 : piece.stop] == b"\n"
        if b is not big_batches[-1]:
            assert size <= piece.stop - piece.start < size + 64
    # reading every mini-batch gives back the file, in order, with the header's columns
    frames = [read_minibatch(b) for b in big_batches]
    assert all(list(f.columns) == ["id", "x1", "word", "genre"] for f in frames)  # type: ignore[union-attr]
    pd.testing.assert_frame_equal(pd.concat(frames, ignore_index=True), pd.read_csv(big))


def test_a_size_smaller_than_a_line_still_makes_one_line_per_mini_batch(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    frame(5).to_csv(path, index=False)
    ranges = list(line_ranges(str(path), 1, header=True))
    assert len(ranges) == 5


def test_json_lines_and_parquet_are_cut_the_same_way(tmp_path: Path) -> None:
    jl, pq = tmp_path / "t.jsonl", tmp_path / "t.parquet"
    data = frame(2000)
    data.to_json(jl, orient="records", lines=True)
    data.to_parquet(pq, row_group_size=300)
    for path in (jl, pq):
        batches = plan(job_for(tmp_path, [path], mini_batch_size=str(path.stat().st_size // 5 + 1)))
        assert 5 <= len(batches) <= 6, path
        got = pd.concat([read_minibatch(b) for b in batches], ignore_index=True)
        pd.testing.assert_frame_equal(got, data, check_dtype=False)


def test_tabular_partitions_never_mix_in_a_mini_batch(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    data = frame(3000)
    data.to_csv(path, index=False)
    batches = plan(job_for(tmp_path, [path], mini_batch_size="8KB", partition_keys=["genre"]))
    seen = []
    for b in batches:
        df = read_minibatch(b)
        assert set(df["genre"]) == {dict(b.partition)["genre"]}  # type: ignore[index]
        seen.append(df)
    got = pd.concat(seen).sort_values("id").reset_index(drop=True)
    pd.testing.assert_frame_equal(got, data)
    assert {dict(b.partition)["genre"] for b in batches} == {"rock", "jazz", "pop"}


def test_an_unknown_partition_column_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    frame(10).to_csv(path, index=False)
    with pytest.raises(UsageError, match="not all columns"):
        plan(job_for(tmp_path, [path], partition_keys=["nope"]))


def test_file_partitions_follow_the_path_format(tmp_path: Path) -> None:
    root = tmp_path / "music"
    for user in ("ann", "bob"):
        for genre in ("rock", "jazz"):
            folder = root / user / genre
            folder.mkdir(parents=True)
            for i in range(3):
                (folder / f"s{i}.txt").write_text("x")
    batches = plan(job_for(tmp_path, [root], mini_batch_size=2, partition_keys=["user", "genre"],
                           partition_format="{user}/{genre}/{name}.txt"))
    assert all(isinstance(b, FileMiniBatch) for b in batches)
    assert len(batches) == 8  # 4 partitions x (2 + 1)
    for b in batches:
        key = dict(b.partition)
        assert all(f"/{key['user']}/{key['genre']}/" in p for p in b.files)  # type: ignore[union-attr]


def test_a_file_outside_the_partition_format_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "music"
    (root / "ann").mkdir(parents=True)
    (root / "ann" / "s.txt").write_text("x")
    with pytest.raises(UsageError, match="does not match"):
        plan(job_for(tmp_path, [root], partition_keys=["user", "genre"],
                     partition_format="{user}/{genre}/{name}.txt"))
