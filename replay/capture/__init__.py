"""The capture agent's entry points: the `replay capture` wrapper and `install()`.

Both watch the step with an `Agent` and leave the step's outcome untouched: same
stderr, same exit status, whatever happens to the capture.
"""

from __future__ import annotations

import os
import sys
from types import TracebackType

from replay.capture.agent import Agent, StepInfo
from replay.capture.options import CaptureOptions
from replay.launch import (
    SIGINT,
    Plan,
    die_by,
    exit_code_of,
    plan_from_command,
    report,
    run_in_process,
    show_exception,
    source_root,
)

REPORT_ENV = "REPLAY_REPORT_FILE"


def step_name(options: CaptureOptions, plan: Plan | None, cmd: list[str]) -> str:
    if options.name:
        return options.name
    if plan is None:
        return os.path.basename(cmd[0]) if cmd else "step"
    if plan.mode == "module":
        return plan.target.rsplit(".", 1)[-1]
    return os.path.splitext(os.path.basename(plan.target))[0]


class ChildReports:
    """Python processes the step starts are captured by the start-up hook (the
    settings and REPLAY_CAPTURE=1 are passed down in the environment) and name their
    captures in a report file, so the parent can tell whether a child already
    captured the real failure."""

    def __init__(self, options: CaptureOptions) -> None:
        # Not `tempfile`: it drags shutil, random and bz2 onto the success path.
        folder = os.environ.get("TMPDIR") or "/tmp"
        self.path = os.path.join(folder, f"replay-report-{os.getpid()}-{os.urandom(6).hex()}")
        os.close(os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
        self.env = {**options.to_env(), REPORT_ENV: self.path}

    def collect(self) -> bool:
        """True when a child wrote a capture; the report file is removed."""
        try:
            with open(self.path, encoding="utf-8") as f:
                return bool(f.read().strip())
        except OSError:
            return False
        finally:
            try:
                os.unlink(self.path)
            except OSError:
                pass


def step_of(plan: Plan | None, cmd: list[str], options: CaptureOptions,
            name: str | None = None) -> StepInfo:
    """The step a command runs: a Python script or module (`plan`), or any command."""
    cwd = os.getcwd()
    name = name or step_name(options, plan, cmd)
    if plan is None:
        return StepInfo(mode="command", target=cmd[0], argv=list(cmd), name=name,
                        source_root=cwd, cwd=cwd)
    target = os.path.abspath(plan.target) if plan.mode == "script" else plan.target
    return StepInfo(mode=plan.mode, target=target, argv=plan.argv, name=name,
                    source_root=source_root(plan, cwd), cwd=cwd)


def capture_command(cmd: list[str], options: CaptureOptions) -> int:
    """Run `cmd` under the agent and return the status to exit with.

    Python steps run in this process; anything else runs as a child. Either way the
    Python processes they start are captured too (see `ChildReports`); when one of
    them captured the failure, the parent adds no capture of its own unless it has
    an exception of its own.
    """
    plan = plan_from_command(cmd)
    if plan is None:
        return _capture_child(cmd, options)
    step = step_of(plan, cmd, options)
    children = ChildReports(options)
    os.environ.update(children.env)
    agent = Agent(options, step)
    agent.start()
    ended = run_in_process(plan)
    if agent.due(ended.exc, ended.exit_code):
        agent.scan_inputs()  # before the failure path's imports, which the scans overlap
    trimmed = None
    if ended.tb is not None:
        from replay.capture.failure import trim_traceback

        trimmed = trim_traceback(ended.tb)
    agent.stop_watching()
    shown = report(ended, trimmed)
    agent.finish(ended.exc, trimmed, ended.exit_code, children_captured=children.collect(),
                 shown=shown)
    if ended.interrupted:
        die_by(SIGINT)
    return ended.exit_code


def _capture_child(cmd: list[str], options: CaptureOptions) -> int:
    """Run a non-Python (or other-interpreter) command; capture it only if none of its
    Python processes captured their own failure."""
    import subprocess

    children = ChildReports(options)
    env = {**os.environ, **children.env}
    agent = Agent(options, step_of(None, cmd, options))
    try:
        proc = subprocess.Popen(cmd, env=env)
    except OSError as exc:
        print(f"replay: cannot run {cmd[0]!r}: {exc.strerror or exc}", file=sys.stderr)
        children.collect()
        return 127 if isinstance(exc, FileNotFoundError) else 126
    while True:
        try:
            status = proc.wait()
            break
        except KeyboardInterrupt:
            continue  # the child got the SIGINT too; its status decides
    sig = -status if status < 0 else None
    exit_code = 128 + sig if sig else status
    agent.finish(None, None, exit_code, signal=sig, children_captured=children.collect())
    if sig:
        die_by(sig)
    return exit_code


_installed: Agent | None = None


def current_step(options: CaptureOptions, name: str | None = None) -> StepInfo:
    """This process's step, read from its original command line."""
    cmd = list(sys.orig_argv)
    return step_of(plan_from_command(cmd), cmd, options, name)


def install(options: CaptureOptions | None = None, name: str | None = None) -> None:
    """Capture this process's failure: an uncaught exception, or a non-zero exit.

    For `import replay; replay.install()` at the top of a script and for the
    startup hook. Idempotent.
    """
    global _installed
    if _installed is not None:
        return
    options = options or CaptureOptions.from_env()
    step = current_step(options, name)
    agent = Agent(options, step)
    agent.start()
    _installed = agent
    previous = sys.excepthook

    def excepthook(kind: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
        shown = show_exception(previous, exc, tb)
        _finish(agent, exc, tb, exit_code_of(exc), shown)

    sys.excepthook = excepthook
    _hook_exit(agent)


def _finish(agent: Agent, exc: BaseException | None, tb: TracebackType | None, code: int,
            shown: str | None = None) -> None:
    global _installed
    if _installed is None:
        return
    _installed = None
    capture_id = agent.finish(exc, tb, code, shown=shown)
    report_path = os.environ.get(REPORT_ENV)
    if capture_id and report_path:
        try:
            with open(report_path, "a", encoding="utf-8") as f:
                f.write(capture_id + "\n")
        except OSError:
            pass


def _hook_exit(agent: Agent) -> None:
    """A `sys.exit(n)` that ends the process never reaches `sys.excepthook`, so a
    non-zero `sys.exit` is captured as it is called (the exception it was called
    for, if any, is still alive then). A process that simply ends is judged at exit,
    for `--always`."""
    import atexit

    real_exit = sys.exit

    def exit_(status: object = None) -> None:
        request = SystemExit(status)
        request.__context__ = sys.exc_info()[1]
        code = exit_code_of(request)
        if code != 0:
            _finish(agent, request, None, code)
        real_exit(status)

    sys.exit = exit_  # type: ignore[assignment]

    def at_exit() -> None:
        _finish(agent, None, None, 0)

    atexit.register(at_exit)
