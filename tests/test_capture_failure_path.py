"""The failure path keeps what the job printed and reads the failing lines itself,
without the modules that would make a failing job's capture slower."""

from __future__ import annotations

import io
import os
import shutil
import sys
import textwrap
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from replay.capture.failure import decode_source, describe_failure, is_library_file
from replay.launch import show_exception
from replay.store import LocalStore
from tests.conftest import run_replay


def _raise(exc: BaseException) -> BaseException:
    try:
        raise exc
    except BaseException as caught:
        return caught


def _describe(exc: BaseException, cwd: Path, shown: str | None = None) -> dict:
    return describe_failure(exc, exc.__traceback__, str, lambda _name, value: value, str(cwd), shown)


def _frames_of_fail(path: Path, source: bytes) -> list[dict]:
    """The failure record's frames when `fail()`, compiled from `source` as file `path`,
    raises (`path` need not exist)."""
    namespace: dict = {}
    exec(compile(source, str(path), "exec"), namespace)
    try:
        namespace["fail"]()
    except Exception as caught:
        return _describe(caught, path.parent)["frames"]
    raise AssertionError("fail() did not raise")


def test_python_s_own_hook_is_transcribed_and_other_threads_pass_through(monkeypatch) -> None:
    """Another thread writing to stderr while the traceback is printed loses nothing and
    adds nothing to the transcript."""

    class Stderr(io.StringIO):
        def write(self, text: str) -> int:
            if not self.getvalue() and threading.current_thread() is threading.main_thread():
                other = threading.Thread(target=lambda: sys.stderr.write("other thread\n"))
                other.start()
                other.join()
            return super().write(text)

    stderr = Stderr()
    monkeypatch.setattr(sys, "stderr", stderr)
    exc = _raise(ValueError("boom"))
    shown = show_exception(sys.__excepthook__, exc, exc.__traceback__)
    assert sys.stderr is stderr
    assert shown is not None
    assert shown.startswith("Traceback (most recent call last):\n") and shown.endswith("ValueError: boom\n")
    assert "other thread" not in shown
    assert stderr.getvalue() == "other thread\n" + shown


def test_a_broken_stderr_leaves_the_traceback_to_be_formatted(monkeypatch) -> None:
    """When stderr fails part-way (its reader gone), what got through is no traceback."""

    class Broken(io.StringIO):
        def write(self, text: str) -> int:
            if self.getvalue():
                raise BrokenPipeError(32, "Broken pipe")
            return super().write(text)

    monkeypatch.setattr(sys, "stderr", Broken())
    exc = _raise(ValueError("boom"))
    assert show_exception(sys.__excepthook__, exc, exc.__traceback__) is None


def test_a_transcript_kept_by_a_redirect_stops_recording(monkeypatch) -> None:
    """Stderr as the transcript stand-in was when the hook began, kept by someone (a
    `redirect_stderr` that restores it later), stays a plain pass-through once the
    transcript is done: what is written to it after is not recorded."""
    kept = []

    class Stderr(io.StringIO):
        def write(self, text: str) -> int:
            if not kept:
                kept.append(sys.stderr)  # what `redirect_stderr` would restore later
            return super().write(text)

    stderr = Stderr()
    monkeypatch.setattr(sys, "stderr", stderr)
    exc = _raise(ValueError("boom"))
    shown = show_exception(sys.__excepthook__, exc, exc.__traceback__)
    sys.stderr = kept[0]
    print("after", file=sys.stderr)
    assert stderr.getvalue() == f"{shown}after\n"
    assert "".join(kept[0].parts) == shown  # "after" went through, unrecorded


def test_another_hook_prints_as_it_likes_and_nothing_is_transcribed(capsys) -> None:
    exc = _raise(KeyError("k"))
    seen = []
    assert show_exception(lambda *args: seen.append(args[1]), exc, exc.__traceback__) is None
    assert seen == [exc]
    assert capsys.readouterr().err == ""


def test_the_kept_traceback_is_the_printed_one(tmp_path, write_script, clean_env, store_dir) -> None:
    script = write_script("step.py", """
        def load(row):
            return {"a": 1}[row]

        def main():
            try:
                load("b")
            except KeyError as exc:
                raise RuntimeError("row b is missing") from exc

        main()
    """)
    result = run_replay(["capture", "--", "python", str(script)], clean_env, cwd=tmp_path)
    assert result.returncode == 1
    printed = result.stderr[: result.stderr.index("replay: captured")]
    store = LocalStore(store_dir)
    failure = store.load(store.ids()[0]).failure
    assert failure.traceback == printed
    assert "The above exception was the direct cause" in printed
    assert [f.code for f in failure.frames if f.user] == ["main()", 'raise RuntimeError("row b is missing") from exc']


def test_a_step_s_own_excepthook_still_gets_a_standard_traceback_kept(
        tmp_path, write_script, clean_env, store_dir) -> None:
    script = write_script("step.py", """
        import sys
        sys.excepthook = lambda kind, exc, tb: print("custom:", exc, file=sys.stderr)
        raise ValueError("boom")
    """)
    result = run_replay(["capture", "--", "python", str(script)], clean_env, cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr.startswith("custom: boom\n")
    store = LocalStore(store_dir)
    failure = store.load(store.ids()[0]).failure
    assert failure.traceback.startswith("Traceback (most recent call last):")
    assert failure.traceback.endswith("ValueError: boom\n")


@pytest.mark.parametrize(("data", "text"), [
    (b"# -*- coding: latin-1 -*-\nname = '\xe9t\xe9'\n", "name = '\u00e9t\u00e9'"),
    (b"#!/usr/bin/env python\n# vim: set fileencoding=cp1252 :\nx = '\x80'\n", "x = '\u20ac'"),
    (b"\xef\xbb\xbfx = '\xc3\xa9'\n", "x = '\u00e9'"),
    (b"x = 1\n# coding: latin-1\ny = '\xc3\xa9'\n", "y = '\u00e9'"),  # too late to count: UTF-8
    (b"# coding: no-such-codec\nx = '\xc3\xa9'\n", "x = '\u00e9'"),
    (b"x = '\xff'\n", "x = '\ufffd'"),
])
def test_source_is_decoded_as_the_interpreter_decodes_it(data: bytes, text: str) -> None:
    assert decode_source(data).splitlines()[-1] == text


def test_failing_lines_are_read_in_their_declared_encoding(tmp_path: Path) -> None:
    module = tmp_path / "legacy.py"
    module.write_bytes(b"# coding: latin-1\ndef fail():\n    raise ValueError('\xe9chec')\n")
    frames = _frames_of_fail(module, module.read_bytes())
    assert frames[-1]["code"] == "raise ValueError('\u00e9chec')"


def test_a_zip_imported_module_s_line_comes_from_its_loader(tmp_path: Path, monkeypatch) -> None:
    archive = tmp_path / "lib.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("zipped_step.py", "def fail():\n    raise LookupError('in a zip')\n")
    monkeypatch.syspath_prepend(str(archive))
    import zipped_step

    try:
        zipped_step.fail()
    except LookupError as caught:
        frames = _describe(caught, tmp_path)["frames"]
    finally:
        sys.modules.pop("zipped_step", None)
    assert frames[-1]["file"].endswith("lib.zip/zipped_step.py")
    assert frames[-1]["code"] == "raise LookupError('in a zip')"


def test_lines_are_numbered_as_python_numbers_them(tmp_path: Path) -> None:
    """Form feeds and Unicode line separators in a comment do not start lines."""
    module = tmp_path / "odd.py"
    module.write_text("# a\x0c page break and a \u2028 separator\ndef fail():\n    raise ValueError('line 3')\n")
    frames = _frames_of_fail(module, module.read_bytes())
    assert frames[-1]["code"] == "raise ValueError('line 3')"


def test_a_step_that_changed_folder_keeps_its_lines(tmp_path, write_script, clean_env, store_dir) -> None:
    script = write_script("step.py", """
        import os
        os.chdir("/")
        raise ValueError("after chdir")
    """, folder=tmp_path / "job")
    result = run_replay(["capture", "--", "python", "job/step.py"], clean_env, cwd=tmp_path)
    assert result.returncode == 1
    store = LocalStore(store_dir)
    [frame] = [f for f in store.load(store.ids()[0]).failure.frames if f.user]
    assert (frame.file, frame.code) == (str(script), 'raise ValueError("after chdir")')


def test_a_line_that_cannot_be_read_is_empty(tmp_path: Path) -> None:
    frames = _frames_of_fail(tmp_path / "deleted.py", b"def fail():\n    raise OSError('gone')\n")
    assert frames[-1]["code"] == ""


def test_library_files_are_told_from_the_step_s() -> None:
    import json

    assert is_library_file(json.__file__)
    assert is_library_file(pytest.__file__)  # installed packages
    assert is_library_file(describe_failure.__code__.co_filename)  # replay itself
    assert not is_library_file(__file__)


@pytest.fixture
def plain_folder() -> Iterator[Path]:
    """A working folder whose path holds nothing a secret rule looks for (a temporary
    folder's path may: `/tmp/keys/...`): hex digits after `/tmp/rp-`."""
    folder = Path("/tmp") / f"rp-{os.urandom(6).hex()}"
    folder.mkdir()
    try:
        yield folder
    finally:
        shutil.rmtree(folder)


def test_a_second_failing_capture_loads_only_what_it_needs(plain_folder: Path) -> None:
    """Once the environment and the input are remembered, a failing job's capture loads
    none of the modules that each cost it milliseconds: the traceback printer with its
    tokenizer (before Python 3.13, whose own hook loads it), pathlib, OpenSSL, the
    sqlite3 package (datetime), sysconfig, and, when no text holds what a secret
    needs, `re` (with `enum`), `json` and `threading`. So the environment, the paths and
    the argv are plain ones: a variable whose value holds `key`, say, would rightly
    load `re`."""
    heavy = ("pathlib", "_hashlib", "sqlite3", "datetime", "sysconfig", "urllib.parse",
             "re", "enum", "json", "threading")
    if sys.version_info < (3, 13):
        heavy += ("traceback", "linecache", "tokenize", "ast")
    env = {"PATH": f"{os.path.dirname(sys.executable)}:/usr/bin:/bin", "HOME": str(plain_folder),
           "REPLAY_STORE": str(plain_folder / "store"), "PYTHONDONTWRITEBYTECODE": "1",
           # A long run after a dot (a file's extension, a digest) is no JWT to look for.
           "MODEL_FILE": "/models/model.0123456789abcdef0123456789abcdef01234567.bin"}
    report = plain_folder / "loaded.txt"
    data = plain_folder / "data.csv"
    data.write_text("id,value\n1,2\n")
    script = plain_folder / "step.py"
    script.write_text(textwrap.dedent(f"""
        import atexit, sys

        def loaded():
            with open({str(report)!r}, "w") as f:
                f.write(",".join(m for m in {heavy!r} if m in sys.modules))

        atexit.register(loaded)  # runs after the capture is written
        def main(path):
            raise ValueError("bad row in " + path)

        main(sys.argv[1])
    """))
    for _ in range(2):
        result = run_replay(["capture", "--", "python", str(script), str(data)], env, cwd=plain_folder)
        assert result.returncode == 1
        assert "replay: captured" in result.stderr
    assert report.read_text() == ""


def test_code_made_by_exec_gets_no_line_of_its_module(tmp_path: Path) -> None:
    """A frame of `<string>` (a dataclass's generated `__init__`, say) has no file; its
    module's loader would answer with the module's own lines, which are not its."""
    import linecache

    module = tmp_path / "made.py"
    module.write_text("def boom():\n    raise ValueError('x')\n\nCODE = compile('boom()\\n', '<string>', 'exec')\n")
    namespace: dict = {"__name__": "made", "__loader__": _Loader(module.read_text())}
    exec(compile(module.read_text(), str(module), "exec"), namespace)
    try:
        exec(namespace["CODE"], namespace)
    except ValueError as caught:
        frames = _describe(caught, tmp_path)["frames"]
    assert [(f["file"], f["code"]) for f in frames[-2:]] == [("<string>", ""), (str(module), "raise ValueError('x')")]
    linecache.cache["<string>"] = (9, None, ["boom()  # registered\n"], "<string>")
    try:
        exc = _raise_in(namespace)
        assert _describe(exc, tmp_path)["frames"][-2]["code"] == "boom()  # registered"
    finally:
        del linecache.cache["<string>"]


class _Loader:
    def __init__(self, source: str) -> None:
        self.source = source

    def get_source(self, name: str) -> str:
        return self.source


def _raise_in(namespace: dict) -> BaseException:
    try:
        exec(namespace["CODE"], namespace)
    except ValueError as caught:
        return caught
    raise AssertionError("no ValueError")
