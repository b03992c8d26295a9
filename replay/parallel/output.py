"""What a job leaves behind: the append_row file, the error summary, the mini-batch report.

`append_row` output follows the platform byte for byte (SEED_NOTES): a returned
list/array gives one line per element, `str()` of it; a returned DataFrame gives one
line per row, values separated by single spaces, no header and no index (pandas'
`to_csv(sep=" ")`, so a value holding a space is quoted and a missing value is empty),
unless the step's arguments include `--append_row_dataframe_header True`, which puts
one header line first. Lines end with `\\n`.

Workers format their own results (`format_append_rows`) so only text crosses process
boundaries. The parent writes each mini-batch's text to a spool as it arrives and
assembles the final file in mini-batch order when the job ends: memory stays flat, and
the same input gives the same file whichever executor, worker count or timing.

The report files mirror the platform's `logs/` layout so users find things where the
platform's docs say: `logs/job_error.txt`, `logs/job_result.txt`,
`logs/sys/job_report/processed_mini-batches.csv`.
"""

from __future__ import annotations

import io
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPORT_COLUMNS = [
    "minibatch_index",
    "result",
    "node",
    "process",
    "pid",
    "tries",
    "duration_seconds",
    "items",
    "failed_items",
]


def format_append_rows(result: Any, header: bool) -> tuple[str, str | None]:
    """(lines, header line or None) for one `run()` result in the platform's format."""
    pd = sys.modules.get("pandas")
    if pd is not None and isinstance(result, pd.DataFrame):
        text = result.to_csv(sep=" ", header=False, index=False, lineterminator="\n")
        head = None
        if header:
            head = result.head(0).to_csv(sep=" ", header=True, index=False, lineterminator="\n")
        return text, head
    if not len(result):
        return "", None
    return "\n".join(str(element) for element in result) + "\n", None


class AppendRowWriter:
    """Collects mini-batch texts in any order, writes them in index order at `close()`."""

    def __init__(self, path: Path, header: bool) -> None:
        self.path = path
        self.header = header
        self._spool_path = path.with_name(path.name + ".spool")
        self._spool = open(self._spool_path, "w+b")
        self._chunks: dict[int, tuple[int, int]] = {}
        self._headers: dict[int, str] = {}
        self._end = 0  # tracked, not sought: a seek would flush the buffer on every add

    def add(self, index: int, text: str, header: str | None) -> None:
        data = text.encode("utf-8")
        self._spool.write(data)
        self._chunks[index] = (self._end, len(data))
        self._end += len(data)
        if header is not None:
            self._headers[index] = header

    def close(self) -> None:
        """Write the output file: the first header (if asked), then every chunk in order."""
        self._spool.flush()
        tmp = self.path.with_name(self.path.name + ".tmp")
        with open(tmp, "wb") as out:
            if self.header and self._headers:
                out.write(self._headers[min(self._headers)].encode("utf-8"))
            for index in sorted(self._chunks):
                offset, length = self._chunks[index]
                self._spool.seek(offset)
                remaining = length
                while remaining:
                    block = self._spool.read(min(remaining, 1 << 20))
                    out.write(block)
                    remaining -= len(block)
        os.replace(tmp, self.path)
        self._spool.close()
        self._spool_path.unlink(missing_ok=True)

    def abandon(self) -> None:
        self._spool.close()
        self._spool_path.unlink(missing_ok=True)


@dataclass
class ReportRow:
    """One line of `processed_mini-batches.csv`."""

    minibatch_index: int
    result: str = "not_run"
    node: str = ""
    process: str = ""
    pid: int | str = ""
    tries: int = 0
    duration_seconds: float = 0.0
    items: int | str = ""
    failed_items: int = 0


@dataclass
class JobLayout:
    """Where a job writes, under its output folder (the platform's layout)."""

    output: Path
    output_file: Path | None = None
    logs: Path = field(init=False)

    def __post_init__(self) -> None:
        self.logs = self.output / "logs"

    @property
    def job_error(self) -> Path:
        return self.logs / "job_error.txt"

    @property
    def job_result(self) -> Path:
        return self.logs / "job_result.txt"

    @property
    def report(self) -> Path:
        return self.logs / "sys" / "job_report" / "processed_mini-batches.csv"

    @property
    def failed(self) -> Path:
        return self.logs / "sys" / "failed_mini-batches"

    def user_log_dir(self, node: str, process: str) -> Path:
        return self.logs / "user" / "entry_script_log" / node / process

    def stdout_file(self, node: str, process: str) -> Path:
        return self.logs / "user" / "stdout" / node / f"{process}.stdout.txt"

    def metrics_file(self, node: str, process: str) -> Path:
        return self.logs / "user" / "metrics" / node / f"{process}.jsonl"

    def make(self) -> None:
        for folder in (self.output, self.logs, self.report.parent):
            folder.mkdir(parents=True, exist_ok=True)


def write_report(path: Path, rows: list[ReportRow]) -> None:
    import csv

    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(REPORT_COLUMNS)
    for row in sorted(rows, key=lambda r: r.minibatch_index):
        writer.writerow(
            [
                row.minibatch_index,
                row.result,
                row.node,
                row.process,
                row.pid,
                row.tries,
                f"{row.duration_seconds:.3f}",
                row.items,
                row.failed_items,
            ]
        )
    path.write_text(buf.getvalue(), encoding="utf-8")


def write_error_summary(path: Path, headline: str, failures: list[dict[str, Any]]) -> None:
    """`job_error.txt`: the verdict first, then every failed mini-batch with each try's error.

    Users of the platform complain the real error hides in per-process stdout files;
    here every traceback is in this one file, last try last.
    """
    lines = [headline, ""]
    for record in failures:
        where = record.get("worker") or {}
        lines.append(
            f"mini-batch {record['index']}: failed after {len(record['tries'])} "
            f"tr{'y' if len(record['tries']) == 1 else 'ies'}, {record.get('failed_items', 0)} "
            f"failed item(s) (last on {where.get('node', '?')}/{where.get('process', '?')})"
        )
        for n, attempt in enumerate(record["tries"], 1):
            lines.append(f"  try {n}: {attempt['type']}: {attempt['message']} ({attempt['duration']:.2f}s)")
        last_tb = record["tries"][-1].get("traceback") if record["tries"] else None
        if last_tb:
            lines.extend("    " + line for line in last_tb.rstrip().splitlines())
        lines.append("")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
