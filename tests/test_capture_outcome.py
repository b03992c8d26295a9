"""The agent never changes the step's outcome: exit status and stderr are the step's own."""

from __future__ import annotations

import json
import signal
import sys

import pytest

from replay.store import LocalStore
from tests.conftest import run_python, run_replay

CAPTURED_LINE = "replay: captured "


def _strip_capture_line(stderr: str) -> str:
    return "".join(line for line in stderr.splitlines(True) if not line.startswith(CAPTURED_LINE))


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ("raise ValueError('bad row 7')", 1),
        ("import sys; sys.exit(3)", 3),
        ("raise SystemExit('fatal: no config')", 1),
        ("print('fine')", 0),
        ("import sys; print('to stderr', file=sys.stderr); sys.exit(0)", 0),
    ],
)
def test_exit_status_and_stderr_match_the_plain_step(tmp_path, write_script, clean_env, body, status):
    script = write_script("step.py", f"def main():\n    {body}\nmain()\n")
    plain = run_python([str(script)], clean_env, cwd=tmp_path)
    wrapped = run_replay(["capture", "--", "python", str(script)], clean_env, cwd=tmp_path)
    assert plain.returncode == status
    assert wrapped.returncode == status
    assert wrapped.stdout == plain.stdout
    assert _strip_capture_line(wrapped.stderr) == plain.stderr
    assert (CAPTURED_LINE in wrapped.stderr) == (status != 0)


def test_failure_prints_one_line_naming_the_capture(tmp_path, write_script, clean_env, store_dir):
    script = write_script("step.py", "raise KeyError('region')\n")
    result = run_replay(["capture", "--", "python", str(script)], clean_env, cwd=tmp_path)
    lines = [line for line in result.stderr.splitlines() if line.startswith(CAPTURED_LINE)]
    assert len(lines) == 1
    capture_id = lines[0].split()[2]
    assert lines[0] == f"replay: captured {capture_id} in {store_dir} (replay run {capture_id} --attach)"
    listed = json.loads(run_replay(["ls", "--json"], clean_env).stdout)
    assert [row["id"] for row in listed] == [capture_id]
    assert listed[0]["error"] == "KeyError: 'region'"


def test_keyboard_interrupt_ends_like_python_does(tmp_path, write_script, clean_env):
    script = write_script("step.py", "raise KeyboardInterrupt\n")
    plain = run_python([str(script)], clean_env, cwd=tmp_path)
    wrapped = run_replay(["capture", "--", "python", str(script)], clean_env, cwd=tmp_path)
    assert plain.returncode == wrapped.returncode == -signal.SIGINT
    assert _strip_capture_line(wrapped.stderr) == plain.stderr


def test_signal_death_of_a_child_command_is_reproduced(tmp_path, clean_env):
    wrapped = run_replay(["capture", "--", "sh", "-c", "kill -TERM $$"], clean_env, cwd=tmp_path)
    assert wrapped.returncode == -signal.SIGTERM
    assert CAPTURED_LINE in wrapped.stderr
    listed = json.loads(run_replay(["ls", "--json"], clean_env).stdout)
    assert listed[0]["exit_code"] == 128 + signal.SIGTERM


def test_module_steps_run_in_process_with_main_semantics(tmp_path, write_script, clean_env):
    write_script("pkg/__init__.py", "")
    write_script("pkg/score.py", """
        import sys
        print(__name__, sys.argv[1:], flush=True)
        raise RuntimeError("module step failed")
    """)
    result = run_replay(["capture", "--", "python", "-m", "pkg.score", "--day", "3"],
                        clean_env, cwd=tmp_path / "src")
    assert result.returncode == 1
    assert result.stdout == "__main__ ['--day', '3']\n"
    assert 'File "' in result.stderr and "RuntimeError: module step failed" in result.stderr
    manifest = json.loads(run_replay(["show", result.stderr.split(CAPTURED_LINE)[1].split()[0],
                                      "--json"], clean_env).stdout)
    assert manifest["step"]["mode"] == "module"
    assert manifest["step"]["target"] == "pkg.score"
    assert manifest["failure"]["frames"][manifest["failure"]["site"]]["file"].endswith("pkg/score.py")


def test_traceback_has_no_agent_frames(tmp_path, write_script, clean_env):
    script = write_script("step.py", "def f():\n    1 / 0\nf()\n")
    wrapped = run_replay(["capture", "--", "python", str(script)], clean_env, cwd=tmp_path)
    assert "replay" not in _strip_capture_line(wrapped.stderr).replace(str(tmp_path), "")
    assert "runpy" not in wrapped.stderr


def test_unwritable_store_warns_once_and_keeps_the_outcome(tmp_path, write_script, clean_env):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    script = write_script("step.py", "raise ValueError('boom')\n")
    plain = run_python([str(script)], clean_env, cwd=tmp_path)
    wrapped = run_replay(["capture", "--store", str(blocker / "store"), "--", "python", str(script)],
                         clean_env, cwd=tmp_path)
    assert wrapped.returncode == 1
    warnings = [line for line in wrapped.stderr.splitlines() if line.startswith("replay:")]
    assert len(warnings) == 1 and "capture failed" in warnings[0]
    assert wrapped.stderr.replace(warnings[0] + "\n", "") == plain.stderr


def test_a_step_that_removed_its_own_folder_keeps_its_outcome(tmp_path, write_script, clean_env):
    """With no store named, captures go under the working folder; a step that deleted it
    gets one warning line, and its own traceback and status."""
    env = {k: v for k, v in clean_env.items() if k != "REPLAY_STORE"}
    work = tmp_path / "work"
    work.mkdir()
    script = write_script("step.py", f"import os\nos.rmdir({str(work)!r})\nraise ValueError('boom')\n")
    wrapped = run_replay(["capture", "--", "python", str(script)], env, cwd=work)
    assert wrapped.returncode == 1
    warnings = [line for line in wrapped.stderr.splitlines() if line.startswith("replay:")]
    assert len(warnings) == 1 and "capture failed" in warnings[0], wrapped.stderr
    assert wrapped.stderr.rstrip().endswith(warnings[0])
    assert "ValueError: boom" in wrapped.stderr and wrapped.stderr.count("Traceback") == 1


def test_a_signal_handler_raising_during_the_capture_keeps_the_outcome(tmp_path, write_script, clean_env):
    """The step's alarm goes off while the agent waits for its capture (a big input is
    being copied): the handler's exception is the capture's failure, not the step's."""
    data = tmp_path / "big.bin"
    with open(data, "wb") as f:
        f.truncate(256 << 20)
    script = write_script("step.py", """
        import signal, sys

        def ring(*_):
            raise RuntimeError("alarm")

        signal.signal(signal.SIGALRM, ring)
        signal.setitimer(signal.ITIMER_REAL, 0.15)
        raise ValueError("boom")
    """)
    plain = run_python([str(script)], clean_env, cwd=tmp_path)
    assert plain.returncode == 1
    wrapped = run_replay(["capture", "--input", str(data), "--", "python", str(script)], clean_env, cwd=tmp_path)
    assert wrapped.returncode == 1
    warnings = [line for line in wrapped.stderr.splitlines() if line.startswith("replay:")]
    assert warnings == ["replay: warning: capture failed (RuntimeError: alarm); the step's outcome is unchanged"], \
        wrapped.stderr
    assert wrapped.stderr.replace(warnings[0] + "\n", "") == plain.stderr


def test_full_disk_keeps_the_outcome_and_leaves_no_capture(tmp_path, write_script, clean_env):
    """ENOSPC for real: a 1 MiB tmpfs as the store, a 4 MiB input to copy into it."""
    import subprocess

    mnt = tmp_path / "small"
    mnt.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mnt)],
                             capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        data = tmp_path / "big.bin"
        data.write_bytes(b"\x01" * (4 << 20))
        script = write_script("step.py", "import sys\nopen(sys.argv[1], 'rb').read()\nraise ValueError('x')\n")
        wrapped = run_replay(["capture", "--store", str(mnt / "store"), "--", "python", str(script),
                              str(data)], clean_env, cwd=tmp_path)
        assert wrapped.returncode == 1
        assert "No space left on device" in wrapped.stderr
        assert "ValueError: x" in wrapped.stderr
        assert not list((mnt / "store" / "captures").iterdir())
    finally:
        subprocess.run(["umount", str(mnt)], check=False)


def test_capture_timeout_keeps_the_outcome(tmp_path, write_script, clean_env):
    """A deadline of zero seconds: the capture is abandoned, the step's status stands."""
    script = write_script("step.py", "import sys\nsys.exit(4)\n")
    wrapped = run_replay(["capture", "--timeout", "0", "--", "python", str(script)],
                         clean_env, cwd=tmp_path)
    assert wrapped.returncode == 4
    assert "capture took over 0 s" in wrapped.stderr


@pytest.mark.parametrize("timeout", ["inf", "nan", "1e300"])
def test_a_timeout_beyond_what_a_lock_can_wait_still_captures(tmp_path, write_script, clean_env, timeout):
    script = write_script("step.py", "import sys\nsys.exit(4)\n")
    wrapped = run_replay(["capture", "--timeout", timeout, "--", "python", str(script)],
                         clean_env, cwd=tmp_path)
    assert wrapped.returncode == 4
    assert "replay: captured" in wrapped.stderr and "Traceback" not in wrapped.stderr


def test_nothing_to_run_is_a_usage_error(clean_env):
    result = run_replay(["capture"], clean_env)
    assert result.returncode == 2
    assert "nothing to run" in result.stderr


def test_success_path_stays_light(tmp_path, write_script, clean_env):
    """A succeeding step under the agent loads no heavy library and no capture writer,
    nor the standard modules a trivial step would not load itself (argparse and
    logging with their regular expressions cost a step ~20 ms)."""
    script = write_script("step.py", """
        import sys
        heavy = sorted(m for m in ("pandas", "pydantic", "paramiko", "debugpy", "textual",
                                   "replay.capture.writer", "replay.bundle", "sqlite3",
                                   "argparse", "logging", "re", "threading", "traceback")
                       if m in sys.modules)
        print(",".join(heavy))
    """)
    result = run_replay(["capture", "--", "python", str(script)], clean_env, cwd=tmp_path)
    assert result.returncode == 0
    assert result.stdout.strip() == ""


def test_logging_imported_before_the_agent_is_still_watched(tmp_path, write_script, clean_env, store_dir):
    """`install()` runs after the step may have imported logging; records still count."""
    script = write_script("step.py", """
        import logging
        import replay.capture
        replay.capture.install()
        logging.getLogger("early").warning("seen %d", 1)
        raise RuntimeError("boom")
    """)
    result = run_python([str(script)], clean_env, cwd=tmp_path)
    assert result.returncode == 1
    assert "seen 1" in result.stderr
    manifest = LocalStore(store_dir).load(LocalStore(store_dir).ids()[0])
    assert [r.message for r in manifest.logs.records] == ["seen 1"]


def test_replay_library_never_imports_textual(clean_env):
    code = ("import sys, pkgutil, importlib, replay\n"
            "for m in pkgutil.walk_packages(replay.__path__, 'replay.'):\n"
            "    if not m.name.endswith(('_hook.startup', '__main__')): importlib.import_module(m.name)\n"
            "print([m for m in sys.modules if m == 'textual' or m.startswith(('textual.', 'tui'))])")
    result = run_python(["-c", code], clean_env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_python_option_other_than_harmless_runs_as_child(tmp_path, write_script, clean_env):
    script = write_script("step.py", "import sys\nprint(sys.flags.optimize)\nsys.exit(2)\n")
    result = run_replay(["capture", "--", sys.executable, "-O", str(script)], clean_env, cwd=tmp_path)
    assert result.returncode == 2
    assert result.stdout == "1\n"
    assert result.stderr.count(CAPTURED_LINE) == 1
