"""Every way of switching capture on behaves alike: the wrapper, `replay.install()`,
and REPLAY_CAPTURE=1 through the start-up hook, including steps that an orchestrator
runs as a subprocess or calls and swallows."""

from __future__ import annotations

from replay.store import LocalStore
from tests.conftest import run_python, run_replay

FAILING = """
    def main():
        rows = [3, 1, 0]
        for row in rows:
            share = 6 / row
    main()
"""


def _only_capture(store_dir):
    store = LocalStore(store_dir)
    (capture_id,) = store.ids()
    return store.load(capture_id)


def test_install_in_the_script(tmp_path, write_script, clean_env, store_dir):
    script = write_script("step.py", "import replay\nreplay.install()\n" + FAILING.replace("\n    ", "\n"))
    plain_env = {**clean_env}
    result = run_python([str(script)], plain_env, cwd=tmp_path)
    assert result.returncode == 1
    assert "ZeroDivisionError" in result.stderr and "replay: captured" in result.stderr
    m = _only_capture(store_dir)
    assert m.failure.type == "ZeroDivisionError"
    assert m.failure.site_frame().function == "main"
    assert m.failure.site_frame().locals["row"] == "0"


def test_environment_variable_captures_any_python_process(tmp_path, write_script, clean_env, store_dir):
    script = write_script("step.py", FAILING)
    result = run_python([str(script)], {**clean_env, "REPLAY_CAPTURE": "1"}, cwd=tmp_path)
    assert result.returncode == 1
    assert "replay: captured" in result.stderr
    assert _only_capture(store_dir).step.target == str(script)


def test_unset_variable_loads_nothing(tmp_path, write_script, clean_env):
    script = write_script("probe.py", "import sys\nprint(sorted(m for m in sys.modules if m.startswith('replay')))\n")
    result = run_python([str(script)], clean_env, cwd=tmp_path)
    assert result.stdout.strip() == "[]"


def test_sys_exit_with_a_status_is_captured_by_the_hook(tmp_path, write_script, clean_env, store_dir):
    script = write_script("step.py", "import sys\nprint('partial')\nsys.exit(7)\n")
    result = run_python([str(script)], {**clean_env, "REPLAY_CAPTURE": "1"}, cwd=tmp_path)
    assert result.returncode == 7
    m = _only_capture(store_dir)
    assert m.outcome.exit_code == 7 and m.failure is None and "partial" in m.logs.stdout


def test_orchestrator_that_runs_the_step_as_a_subprocess(tmp_path, write_script, clean_env, store_dir):
    """The step is captured in its own process; the orchestrator adds no second capture."""
    step = write_script("score.py", FAILING)
    orchestrator = write_script("run_pipeline.py", f"""
        import subprocess, sys
        done = subprocess.run([sys.executable, {str(step)!r}])
        if done.returncode:
            print("step score failed", file=sys.stderr)
            sys.exit(1)
    """)
    result = run_replay(["capture", "--", "python", str(orchestrator)], clean_env, cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr.count("replay: captured") == 1
    m = _only_capture(store_dir)
    assert m.step.target == str(step)
    assert m.failure.type == "ZeroDivisionError"


def test_orchestrator_that_swallows_the_exception_and_exits(tmp_path, write_script, clean_env, store_dir):
    """The capture holds the step's own exception, found behind the SystemExit."""
    write_script("score.py", FAILING.replace("main()\n", "").replace("\n    ", "\n"))
    driver = write_script("driver.py", """
        import logging, sys
        import score

        log = logging.getLogger("driver")
        try:
            score.main()
        except Exception as exc:
            log.error("step failed: %s", exc)
            sys.exit(1)
    """)
    result = run_replay(["capture", "--", "python", str(driver)], clean_env, cwd=tmp_path)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr  # the driver printed none, and neither do we
    m = _only_capture(store_dir)
    assert m.failure.type == "ZeroDivisionError"
    assert m.failure.site_frame().function == "main"
    assert m.failure.site_frame().locals["row"] == "0"


def test_logged_exception_is_found_when_the_driver_exits_later(tmp_path, write_script, clean_env, store_dir):
    write_script("score.py", FAILING.replace("main()\n", "").replace("\n    ", "\n"))
    driver = write_script("driver.py", """
        import logging, sys
        import score

        failed = False
        try:
            score.main()
        except Exception:
            logging.getLogger("driver").exception("step failed")
            failed = True
        print("cleaning up")
        sys.exit(2 if failed else 0)
    """)
    result = run_replay(["capture", "--", "python", str(driver)], clean_env, cwd=tmp_path)
    assert result.returncode == 2
    m = _only_capture(store_dir)
    assert m.failure.type == "ZeroDivisionError"
    assert m.failure.site_frame().locals["row"] == "0"


def test_always_captures_a_successful_run_at_interpreter_exit(tmp_path, write_script, clean_env, store_dir):
    data = tmp_path / "in.txt"
    data.write_text("x" * 10)
    script = write_script("ok.py", f"open({str(data)!r}).read()\nprint('done')\n")
    env = {**clean_env, "REPLAY_CAPTURE": "1", "REPLAY_ALWAYS": "1"}
    result = run_python([str(script)], env, cwd=tmp_path)
    assert result.returncode == 0 and result.stdout == "done\n"
    assert "replay:" not in result.stderr
    m = _only_capture(store_dir)
    assert m.status == "passed" and [i.path for i in m.inputs] == [str(data)]


def test_every_setting_reaches_the_child_processes():
    """The start-up hook in a child reads the settings the parent was given."""
    from replay.capture.options import CaptureOptions

    given = CaptureOptions(store="/s", always=True, inputs=["a", "b/"], name="score",
                           max_input_bytes=123, max_file_bytes=45, timeout=7.5,
                           wait_for_debugger=30.0, debug_port=5999)
    child = CaptureOptions.from_env(given.to_env())
    assert vars(child) == vars(given)
