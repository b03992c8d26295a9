"""Mini-batch planning: how the input is cut, and how one mini-batch is read back.

The platform cuts a file dataset into lists of N paths and a tabular dataset into
pieces of about `mini_batch_size` bytes that never cross a file boundary. Failures are
reported per mini-batch, so the cut must be deterministic: the same input and size give
the same mini-batches on every run and in every executor, and a failing mini-batch can
be read back exactly (for a capture) from its description alone.

A mini-batch is therefore a small, picklable *description* (paths, byte ranges, row
ranges, partition values), never the data. CSV and JSON Lines are cut by byte offsets
moved forward to the next line end, so planning a 1 GiB CSV only seeks and reads a few
bytes per mini-batch, and reading a mini-batch reads only its own byte range plus the
header line: memory stays near one mini-batch. Parquet is cut by row ranges sized from
the file's bytes per row and read through its row groups.

Known limit: a CSV field holding a quoted newline can be cut in the middle when a cut
falls inside it; such files need a `mini_batch_size` larger than the file or another
format (Parquet).

pandas and pyarrow are imported only inside the functions that read tables, so a file
dataset run never loads them.
"""

from __future__ import annotations

import io
import math
import os
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from replay.errors import UsageError

if TYPE_CHECKING:  # config is needed to plan, not in workers that only read mini-batches
    import pandas as pd

    from replay.parallel.config import InputFile, ParallelJob

SCAN_BLOCK = 64 * 1024

PartitionItems = tuple[tuple[str, Any], ...]


@dataclass(frozen=True, slots=True)
class FileMiniBatch:
    """Some paths of a file dataset; `run()` receives `list(files)`."""

    index: int
    files: tuple[str, ...]
    partition: PartitionItems = ()

    kind = "files"


@dataclass(frozen=True, slots=True)
class Piece:
    """A slice of one tabular file: bytes [start, stop) for CSV/JSON Lines, rows for Parquet.

    For CSV, bytes [0, header_end) are the header line, read with every piece.
    """

    path: str
    fmt: str
    start: int
    stop: int
    header_end: int = 0


@dataclass(frozen=True, slots=True)
class TabularMiniBatch:
    """Pieces of one tabular file (rows of one partition only, when partitioned)."""

    index: int
    pieces: tuple[Piece, ...]
    partition: PartitionItems = ()

    kind = "tabular"

    @property
    def path(self) -> str:
        return self.pieces[0].path


MiniBatch = FileMiniBatch | TabularMiniBatch


# --------------------------------------------------------------------------- planning


def plan(job: ParallelJob) -> list[MiniBatch]:
    """All mini-batches of `job`, indexed from 0 in input order."""
    keys = list(job.config.partition_keys or [])
    if job.kind == "files":
        return list(plan_files(job.files, job.mini_batch_size, keys, job.config.partition_format))
    return list(plan_tabular(job.files, job.mini_batch_size, keys))


def compile_partition_format(fmt: str) -> re.Pattern[str]:
    """`{user}/{genre}/{name}.txt` -> a regex matched against the end of a file's path."""
    parts = re.split(r"(\{[A-Za-z_][A-Za-z0-9_]*\})", fmt.strip().lstrip("/"))
    out = []
    seen: set[str] = set()
    for part in parts:
        m = re.fullmatch(r"\{([A-Za-z_][A-Za-z0-9_]*)\}", part)
        if m is None:
            out.append(re.escape(part))
        elif m.group(1) in seen:
            out.append(f"(?P={m.group(1)})")
        else:
            seen.add(m.group(1))
            out.append(f"(?P<{m.group(1)}>[^/]+)")
    return re.compile("(?:^|/)" + "".join(out) + "$")


def match_partition(pattern: re.Pattern[str], f: InputFile) -> re.Match[str] | None:
    """Match a file against a partition format: from its input folder, or (for a file
    given by itself) against the end of its path."""
    if f.root != f.path:
        rel = os.path.relpath(f.path, f.root).replace(os.sep, "/")
        m = pattern.search(rel)
        return m if m is not None and m.start() == 0 else None
    return pattern.search(f.path.replace(os.sep, "/"))


def plan_files(
    files: Sequence[InputFile],
    size: int,
    keys: Sequence[str] = (),
    partition_format: str | None = None,
) -> Iterator[FileMiniBatch]:
    """N paths per mini-batch, in path order; with keys, one partition per mini-batch."""
    index = 0
    if not keys:
        paths = [f.path for f in files]
        for start in range(0, len(paths), size):
            yield FileMiniBatch(index, tuple(paths[start : start + size]))
            index += 1
        return
    assert partition_format is not None
    pattern = compile_partition_format(partition_format)
    groups: dict[tuple[str, ...], list[str]] = {}
    for f in files:
        m = match_partition(pattern, f)
        if m is None:
            from replay.parallel.config import partition_fields

            raise UsageError(
                f"{f.path} does not match --partition-format {partition_format!r} "
                f"(fields: {', '.join(partition_fields(partition_format))})"
            )
        groups.setdefault(tuple(m.group(k) for k in keys), []).append(f.path)
    for values, paths in groups.items():
        partition = tuple(zip(keys, values))
        for start in range(0, len(paths), size):
            yield FileMiniBatch(index, tuple(paths[start : start + size]), partition)
            index += 1


def _next_line_end(f: io.BufferedReader, pos: int, file_size: int) -> int:
    """The offset just after the first b'\\n' at or after `pos` (or the file's end)."""
    f.seek(pos)
    while pos < file_size:
        block = f.read(SCAN_BLOCK)
        if not block:
            break
        hit = block.find(b"\n")
        if hit >= 0:
            return pos + hit + 1
        pos += len(block)
    return file_size


def line_ranges(path: str, size: int, header: bool) -> Iterator[tuple[int, int, int]]:
    """(header_end, start, stop) byte ranges of about `size` bytes, cut after a line end.

    Only seeks and scans forward to the next newline per cut: a 1 GiB file is planned
    in a few milliseconds and constant memory.
    """
    with open(path, "rb") as f:
        file_size = os.fstat(f.fileno()).st_size
        header_end = _next_line_end(f, 0, file_size) if header else 0
        start = header_end
        while start < file_size:
            target = start + size
            stop = file_size if target >= file_size else _next_line_end(f, target - 1, file_size)
            yield header_end, start, stop
            start = stop


def parquet_ranges(path: str, size: int) -> Iterator[tuple[int, int]]:
    """Row ranges whose share of the file's bytes is about `size`."""
    import pyarrow.parquet as pq

    rows = pq.ParquetFile(path).metadata.num_rows
    if rows == 0:
        return
    bytes_per_row = max(os.path.getsize(path) / rows, 1e-9)
    step = max(1, int(size // bytes_per_row))
    for start in range(0, rows, step):
        yield start, min(rows, start + step)


def base_pieces(f: InputFile, size: int) -> Iterator[Piece]:
    """The unpartitioned cut of one tabular file."""
    if f.fmt == "parquet":
        for start, stop in parquet_ranges(f.path, size):
            yield Piece(f.path, "parquet", start, stop)
    else:
        header = f.fmt == "csv"
        for header_end, start, stop in line_ranges(f.path, size, header):
            yield Piece(f.path, str(f.fmt), start, stop, header_end)


def _piece_bytes(piece: Piece) -> float:
    if piece.fmt != "parquet":
        return float(piece.stop - piece.start)
    import pyarrow.parquet as pq

    rows = pq.ParquetFile(piece.path).metadata.num_rows or 1
    return os.path.getsize(piece.path) * (piece.stop - piece.start) / rows


def _norm(value: Any) -> Any:
    """A hashable, comparable Python scalar for a partition value (NaN and None -> None)."""
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        try:
            value = value.item()
        except (ValueError, AttributeError):
            pass
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    try:
        import pandas as pd

        if value is pd.NaT:
            return None
    except ImportError:  # pragma: no cover - pandas is a dependency
        pass
    return value


@dataclass
class _Pending:
    pieces: list[Piece] = field(default_factory=list)
    size: float = 0.0


def plan_tabular(
    files: Sequence[InputFile], size: int, keys: Sequence[str] = ()
) -> Iterator[TabularMiniBatch]:
    """About `size` bytes per mini-batch, never across files; with keys, one partition each.

    Partitioned planning reads each piece's key columns once, and gathers the pieces in
    which a partition occurs until their estimated share of bytes reaches `size`; reading
    such a mini-batch reads those pieces and keeps that partition's rows.
    """
    index = 0
    for f in files:
        if not keys:
            for piece in base_pieces(f, size):
                yield TabularMiniBatch(index, (piece,))
                index += 1
            continue
        pending: dict[PartitionItems, _Pending] = {}
        for piece in base_pieces(f, size):
            try:
                frame = read_piece(piece, columns=list(keys))
            except (KeyError, ValueError) as exc:
                raise UsageError(
                    f"partition keys {', '.join(keys)} are not all columns of {f.path}: {exc}"
                ) from None
            if len(frame) == 0:
                continue
            counts = frame.groupby(list(keys), sort=False, dropna=False).size()
            share = _piece_bytes(piece) / len(frame)
            for key, count in counts.items():
                values = key if isinstance(key, tuple) else (key,)
                partition = tuple((k, _norm(v)) for k, v in zip(keys, values))
                acc = pending.setdefault(partition, _Pending())
                acc.pieces.append(piece)
                acc.size += share * int(count)
                if acc.size >= size:
                    yield TabularMiniBatch(index, tuple(acc.pieces), partition)
                    index += 1
                    del pending[partition]
        for partition, acc in pending.items():
            yield TabularMiniBatch(index, tuple(acc.pieces), partition)
            index += 1


# --------------------------------------------------------------------------- reading


class _RangeReader(io.RawIOBase):
    """A file seen as its header line followed by one byte range (what a piece holds).

    pandas' parser pulls from it in its own 256 KiB reads, so no copy of the mini-batch
    is ever built: as fast as `read_csv(chunksize=...)` on the whole file, and the
    memory of one mini-batch stays one DataFrame plus the parser's buffer.
    """

    def __init__(self, piece: Piece) -> None:
        super().__init__()
        self._file = open(piece.path, "rb", buffering=0)
        self._spans = [(0, piece.header_end)] if piece.header_end else []
        self._spans.append((piece.start, piece.stop))
        self._pos, self._end = self._spans.pop(0)
        self._file.seek(self._pos)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while self._pos >= self._end:
            if not self._spans:
                return 0
            self._pos, self._end = self._spans.pop(0)
            self._file.seek(self._pos)
        view = memoryview(buffer)[: min(len(buffer), self._end - self._pos)]
        got = self._file.readinto(view) or 0
        if got == 0:  # the file shrank under us
            self._pos = self._end
        self._pos += got
        return got

    def close(self) -> None:
        self._file.close()
        super().close()


def _read_bytes(piece: Piece) -> bytes:
    with open(piece.path, "rb") as f:
        head = f.read(piece.header_end) if piece.header_end else b""
        f.seek(piece.start)
        body = f.read(piece.stop - piece.start)
    return head + body if head else body


def read_piece(piece: Piece, columns: list[str] | None = None) -> pd.DataFrame:
    """The rows of one piece as a DataFrame (index 0..n-1); `columns` limits the columns."""
    import pandas as pd

    if piece.fmt == "parquet":
        import pyarrow.parquet as pq

        pf = pq.ParquetFile(piece.path)
        md = pf.metadata
        groups, first, row = [], None, 0
        for i in range(md.num_row_groups):
            n = md.row_group(i).num_rows
            if row < piece.stop and row + n > piece.start:
                groups.append(i)
                first = row if first is None else first
            row += n
        table = pf.read_row_groups(groups, columns=columns)
        table = table.slice(piece.start - (first or 0), piece.stop - piece.start)
        return table.to_pandas()
    with io.BufferedReader(_RangeReader(piece), 1 << 18) as data:
        if piece.fmt == "csv":
            # low_memory=False: one dtype per column for the whole mini-batch (no
            # mixed-type columns from the parser's internal chunks, no concatenation)
            return pd.read_csv(data, usecols=columns, low_memory=False)
        frame = pd.read_json(data, lines=True)
    return frame[columns] if columns is not None else frame


def _partition_mask(frame: pd.DataFrame, partition: PartitionItems) -> Any:
    import numpy as np

    mask = np.ones(len(frame), dtype=bool)
    for key, value in partition:
        column = frame[key]
        if value is None:
            mask &= column.isna().to_numpy()
        else:
            mask &= (column == value).to_numpy()
    return mask


def read_tabular(batch: TabularMiniBatch) -> pd.DataFrame:
    """The DataFrame `run()` receives for `batch`: its pieces, this partition's rows only."""
    import pandas as pd

    frames = []
    for piece in batch.pieces:
        frame = read_piece(piece)
        if batch.partition:
            frame = frame[_partition_mask(frame, batch.partition)]
        frames.append(frame)
    frame = frames[0] if len(frames) == 1 else pd.concat(frames)
    return frame.reset_index(drop=True) if (batch.partition or len(frames) > 1) else frame


def read_minibatch(batch: MiniBatch) -> list[str] | pd.DataFrame:
    """What `run()` receives: a list of paths, or a DataFrame."""
    if isinstance(batch, FileMiniBatch):
        return list(batch.files)
    return read_tabular(batch)


def estimate_records(batch: MiniBatch) -> int:
    """Records in `batch` without parsing it (used when reading it failed): files, or lines."""
    if isinstance(batch, FileMiniBatch):
        return len(batch.files)
    total = 0
    for piece in batch.pieces:
        if piece.fmt == "parquet":
            total += piece.stop - piece.start
        else:
            total += _read_bytes(Piece(piece.path, piece.fmt, piece.start, piece.stop)).count(b"\n")
    return max(total, 1)


# --------------------------------------------------------------------------- context


@dataclass(frozen=True)
class DatasetSubset:
    """`mini_batch_context.dataset`: the part of the input that belongs to one partition.

    Lazy: nothing is listed or read until the script asks, with the method names of the
    platform's datasets (`to_path()` for file datasets, `to_pandas_dataframe()` for
    tabular ones).
    """

    kind: str
    roots: tuple[str, ...]
    partition_format: str | None = None
    partition: PartitionItems = ()

    @property
    def partition_key_value(self) -> dict[str, Any]:
        return dict(self.partition)

    def _files(self) -> list[InputFile]:
        from replay.parallel.config import list_inputs

        prefix = "files:" if self.kind == "files" else "tabular:"
        return list(list_inputs([prefix + r for r in self.roots])[1])

    def to_path(self) -> list[str]:
        """The paths of this subset (file datasets)."""
        files = self._files()
        if not self.partition or not self.partition_format:
            return [f.path for f in files]
        pattern = compile_partition_format(self.partition_format)
        want = dict(self.partition)
        out = []
        for f in files:
            m = match_partition(pattern, f)
            if m and all(m.group(k) == v for k, v in want.items()):
                out.append(f.path)
        return out

    def to_pandas_dataframe(self) -> pd.DataFrame:
        """All rows of this subset (tabular datasets)."""
        import pandas as pd

        frames = []
        for f in self._files():
            for piece in base_pieces(f, 1 << 62):
                frame = read_piece(piece)
                if self.partition:
                    frame = frame[_partition_mask(frame, self.partition)]
                frames.append(frame)
        return pd.concat(frames).reset_index(drop=True) if frames else pd.DataFrame()

    def with_partition(self, partition: PartitionItems) -> DatasetSubset:
        return DatasetSubset(self.kind, self.roots, self.partition_format, partition)
