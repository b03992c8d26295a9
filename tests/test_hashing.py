"""Small amounts are hashed with the interpreter's own sha256, so that a failing job
need not load OpenSSL; the digests are the same either way."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys

import pytest

from replay import hashing


def copy_and_hash(src, dst) -> tuple[str, int]:
    """How every caller uses it: on a file it has opened (and checked) itself."""
    with open(src, "rb", buffering=0) as fsrc:
        return hashing.copy_opened_and_hash(fsrc, dst)


@pytest.mark.parametrize("size", [0, 1, 64 << 10, (1 << 20) + 1, 5 << 20])
def test_every_path_gives_sha256(tmp_path, size: int) -> None:
    data = bytes(range(256)) * (size // 256) + b"x" * (size % 256)
    expected = hashlib.sha256(data).hexdigest()
    assert hashing.hash_bytes(data) == expected
    source = tmp_path / "data.bin"
    source.write_bytes(data)
    assert hashing.hash_file(source) == (expected, size)
    assert copy_and_hash(source, tmp_path / "copy.bin") == (expected, size)
    assert (tmp_path / "copy.bin").read_bytes() == data


def test_a_process_switches_to_openssl_after_its_first_megabyte() -> None:
    """In a fresh process (this one has OpenSSL loaded): 100 kB and 900 kB fit the first
    megabyte; the next 100 kB do not, and once OpenSSL is loaded it does everything.
    The digests are sha256's all along."""
    code = """
import sys
from replay import hashing
for size in (100_000, 900_000, 100_000, 10):
    data = bytes(range(256)) * (size // 256) + b"y" * (size % 256)
    h = hashing.new_sha256(size)
    h.update(data)
    print("openssl" if type(h).__module__ == "_hashlib" else "own", h.hexdigest())
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    lines = [line.split() for line in result.stdout.splitlines()]
    assert [kind for kind, _ in lines] == ["own", "own", "openssl", "openssl"]
    for (_, digest), size in zip(lines, (100_000, 900_000, 100_000, 10)):
        data = bytes(range(256)) * (size // 256) + b"y" * (size % 256)
        assert digest == hashlib.sha256(data).hexdigest()


_TAMPER = """
import os, sys
from replay import hashing
source, copy, how = sys.argv[1], sys.argv[2], sys.argv[3]
with open(source, "wb") as f:
    f.write(os.urandom(hashing.CHUNK * 8) * 4)  # four of the copier's bites
real = os.copy_file_range
def copy_file_range(src, dst, count, offset_src, offset_dst):
    n = real(src, dst, count, offset_src, offset_dst)
    if offset_src == 0:  # the first bite is in the copy: change the source under it
        if how == "truncate":
            os.truncate(source, 0)
        else:
            with open(source, "r+b") as f:
                f.write(b"rewritten" * 1000)
    return n
os.copy_file_range = copy_file_range
try:
    with open(source, "rb", buffering=0) as fsrc:
        digest, size = hashing.copy_opened_and_hash(fsrc, copy)
except OSError as exc:
    print("OSError", exc)
else:
    print("copied", digest == hashing.hash_file(copy)[0], size)
"""


@pytest.mark.parametrize("how, said", [
    ("truncate", "OSError"),  # once, the process died of SIGBUS here (the source was mapped)
    ("rewrite", "copied True 33554432"),  # the hash is of the bytes copied, not of the source
])
def test_a_source_changed_while_copied_gives_an_error_or_a_true_hash(tmp_path, how: str, said: str) -> None:
    result = subprocess.run([sys.executable, "-c", _TAMPER, str(tmp_path / "src.bin"), str(tmp_path / "copy.bin"), how],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(said), result.stdout


def test_without_a_thread_to_spare_a_big_file_is_copied_then_hashed(tmp_path, monkeypatch) -> None:
    from replay import threads

    def refuse(function, args):
        raise RuntimeError("can't start new thread")

    monkeypatch.setattr(threads, "start_new_thread", refuse)
    data = bytes(range(256)) * (5 << 12)  # 5 MiB: past what is read whole
    source = tmp_path / "data.bin"
    source.write_bytes(data)
    assert copy_and_hash(source, tmp_path / "copy.bin") == (hashlib.sha256(data).hexdigest(), len(data))
    assert (tmp_path / "copy.bin").read_bytes() == data


def test_a_copy_that_falls_back_on_sendfile_midway_is_whole(tmp_path, monkeypatch) -> None:
    """`copy_file_range` copies the first bite, then fails (as across some filesystems):
    `sendfile` writes the rest where it belongs, not over the start."""
    data = os.urandom(hashing.CHUNK * 8) * 3
    source = tmp_path / "data.bin"
    source.write_bytes(data)
    real = os.copy_file_range

    def first_bite_only(src, dst, count, offset_src, offset_dst):
        if offset_src:
            raise OSError(18, "Invalid cross-device link")
        return real(src, dst, count, offset_src, offset_dst)

    monkeypatch.setattr(os, "copy_file_range", first_bite_only)
    assert copy_and_hash(source, tmp_path / "copy.bin") == (hashlib.sha256(data).hexdigest(), len(data))
    assert (tmp_path / "copy.bin").read_bytes() == data
