"""The capture agent: watch a step while it runs, snapshot it when it fails.

`Agent.start()` is all a succeeding step pays for: an audit hook, two stream tees, a
log-record factory and a few `stat` calls, all from the standard library. Only
`Agent.finish()` on a failure (or with `always`) loads the heavier modules that write
a capture, and it does so under a time limit and a blanket guard, because the one
thing the agent may never do is change the step's outcome.
"""

from __future__ import annotations

import os
import sys
import time
from types import TracebackType

from replay.capture.options import CaptureOptions
from replay.capture.watch import FileWatch, LogTail, TailTee

TYPE_CHECKING = False  # importing typing costs the success path; annotations are strings
if TYPE_CHECKING:
    from typing import Any

OUTPUT_HINTS = ("out", "dest", "save", "export", "result", "write", "target", "dump")


class StepInfo:
    """How the step was started."""

    def __init__(self, mode: str, target: str, argv: list[str], name: str, source_root: str,
                 cwd: str | None = None) -> None:
        self.mode = mode  # "script" | "module" | "command"
        self.target = target
        self.argv = argv
        self.name = name
        self.source_root = source_root
        self.executable = sys.executable
        self.cwd = cwd or os.getcwd()


class PathArg:
    __slots__ = ("path", "option", "existed")

    def __init__(self, path: str, option: str, existed: bool) -> None:
        self.path = path
        self.option = option
        self.existed = existed


def _hints_output(option: str) -> bool:
    return any(hint in option for hint in OUTPUT_HINTS)


def path_arguments(argv: list[str], cwd: str) -> list[PathArg]:
    """Values in argv that name a path (existing, or whose parent folder exists); a bare
    name counts when it exists or its option names an output (`--output-dir out`)."""
    found: list[PathArg] = []
    option = ""
    for token in argv:
        value = token
        if token.startswith("-"):
            if "=" not in token:
                option = token
                continue
            option, value = token.split("=", 1)
        extension = os.path.splitext(value)[1][1:]
        looks_like_path = (
            "/" in value or extension.isalpha() or _hints_output(option.lstrip("-").lower())
        )
        full = os.path.normpath(os.path.join(cwd, value)) if value else ""
        exists = bool(value) and not value.startswith("-") and os.path.exists(full)
        if value and not value.startswith("-") and (looks_like_path or exists):
            if exists or os.path.isdir(os.path.dirname(full) or "/"):
                found.append(PathArg(full, option.lstrip("-").lower(), exists))
        option = ""
    return found


def _deadline(timeout: float) -> float:
    """Seconds to wait for the capture: `timeout`, or none for a negative one, and as
    long as a lock can wait for an infinite, huge or NaN one (from $REPLAY_TIMEOUT)."""
    from _thread import TIMEOUT_MAX

    if timeout < 0:
        return 0.0
    return timeout if timeout <= TIMEOUT_MAX else TIMEOUT_MAX


def looks_like_output(arg: PathArg) -> bool:
    """An output: its option says so, or it did not exist when the step started (a
    path the step is to create)."""
    return _hints_output(arg.option) or not arg.existed


class Agent:
    """One step's watch; `finish` writes the capture when one is due."""

    def __init__(self, options: CaptureOptions, step: StepInfo) -> None:
        self.options = options
        self.step = step
        self.started = time.time()
        self.files = FileWatch.get()
        self.logs = LogTail()
        self.stdout: TailTee | None = None
        self.stderr: TailTee | None = None
        self.path_args = path_arguments(step.argv[1:], step.cwd)
        self.recorder: Any = None
        self.scans: dict[str, Any] | None = None

    def start(self) -> None:
        global _active
        eager = "replay.boundaries" in sys.modules or _step_declares_boundaries(self.step.source_root)
        self.files.start()
        self.logs.start()
        self.stdout = TailTee(sys.stdout)
        sys.stdout = self.stdout  # type: ignore[assignment]
        self.stderr = TailTee(sys.stderr)
        sys.stderr = self.stderr  # type: ignore[assignment]
        _active = self
        if eager:
            self.ensure_recording()
        else:
            sys.meta_path.insert(0, _SdkTrigger(self))

    def ensure_recording(self) -> None:
        """Record boundary calls from now on. Deferred until the step shows it has any
        (it imports `replay.boundaries` or the platform SDK, or declares them in its
        pyproject), so a step without upstream calls pays nothing for them."""
        if self.recorder is None:
            from replay import boundaries

            self.recorder = boundaries.start_recording(self.step.source_root)

    def stop_watching(self) -> None:
        global _active
        if _active is self:
            _active = None
        sys.meta_path[:] = [f for f in sys.meta_path if not isinstance(f, _SdkTrigger)]
        self.files.stop()
        self.logs.stop()
        for name, tee in (("stdout", self.stdout), ("stderr", self.stderr)):
            if tee is not None and getattr(sys, name) is tee:
                setattr(sys, name, tee._stream)

    def finish(
        self,
        exc: BaseException | None,
        tb: TracebackType | None,
        exit_code: int,
        signal: int | None = None,
        children_captured: bool = False,
        shown: str | None = None,
    ) -> str | None:
        """Write a capture if the step failed (or `always`); return its id. `shown`:
        the traceback of `exc` as it was printed, when known.

        When a child process already captured the failure and this process has no
        exception of its own (an orchestrator that exits non-zero because its step
        did), nothing more is written. Never raises: any problem becomes one warning
        line on stderr.
        """
        self.stop_watching()
        if not self.due(exc, exit_code):
            return None
        result: dict[str, Any] = {}
        abandoned = False
        try:
            abandoned, exc = self._write(exc, tb, exit_code, signal, children_captured, shown, result)
        finally:
            for folder_scan in (self.scans or {}).values():
                if abandoned:  # the worker may still read its output
                    folder_scan.stop()
                else:
                    folder_scan.close()
        if not result:  # a child process captured the failure; nothing more to say
            return None
        if "error" in result:
            err = result["error"]
            reason = getattr(err, "strerror", None) or str(err) or type(err).__name__
            warn(f"capture failed ({type(err).__name__}: {reason}); the step's outcome is unchanged")
        elif exit_code != 0:
            warn(
                f"captured {result['id']} in {result['store']} "
                f"(replay run {result['id']} --attach)",
                prefix="",
            )
        if exc is not None and self.options.wait_for_debugger > 0:
            self._wait_for_debugger(exc, exit_code)
        return str(result["id"]) if "id" in result else None

    def _write(
        self,
        exc: BaseException | None,
        tb: TracebackType | None,
        exit_code: int,
        signal: int | None,
        children_captured: bool,
        shown: str | None,
        result: dict[str, Any],
    ) -> tuple[bool, BaseException | None]:
        """Snapshot the failure, then persist it in a thread under the deadline, filling
        `result` with the capture's `id` and `store` or an `error` (nothing at all when a
        child already captured the failure). Returns whether the thread was abandoned,
        and the exception that really failed the step (None for a plain exit status)."""
        try:
            scans = self.scan_inputs()
            from replay.capture import writer
            from replay.capture.discover import real_failure

            failing = real_failure(exc, exit_code, self.logs.records)
            if failing is not exc and failing is not None:
                exc, tb, shown = failing, failing.__traceback__, None
            elif isinstance(exc, SystemExit):
                exc, tb = None, None
            if exc is None and children_captured:
                return False, exc

            # The failing frames are read here, on the step's thread, while they are alive;
            # copying and publishing run in a thread that may be abandoned at the deadline.
            snapshot = writer.snapshot(self, exc, tb, exit_code, signal, shown)
        except BaseException as err:  # reported by `finish`, never raised into the step
            result["error"] = err
            return False, exc

        def work() -> None:
            try:
                result["id"], result["store"] = writer.persist(self, snapshot, scans)
            except BaseException as err:
                result["error"] = err

        try:
            from replay.store import is_remote, resolve_store_spec
            from replay.threads import Worker

            if is_remote(resolve_store_spec(self.options.store)):  # (which reads the cwd: in the try)
                # Publishing to a remote store loads `threading` (paramiko). Here, on the
                # step's thread, not first on the worker's: see `replay.threads`.
                import threading  # noqa: F401
            worker = Worker(work)
        except BaseException as err:  # no thread to be had (`can't start new thread`), no cwd
            result["error"] = err
            return False, exc
        try:
            finished = worker.join(_deadline(self.options.timeout))
        except BaseException as err:  # Ctrl-C, or a step's signal handler, while waiting
            result["error"] = err
            return True, exc
        if not finished:
            result["error"] = TimeoutError(f"capture took over {self.options.timeout:g} s")
            return True, exc
        return False, exc

    def due(self, exc: BaseException | None, exit_code: int) -> bool:
        """Whether a step that ended so is to be captured."""
        return exit_code != 0 or isinstance(exc, BaseException) or self.options.always

    def output_args(self) -> list[PathArg]:
        """The paths in argv that look like the step's outputs (`looks_like_output`)."""
        return [a for a in self.path_args if looks_like_output(a)]

    def named_inputs(self) -> list[tuple[str, str]]:
        """The inputs the command line names, as (path, how): paths in argv that existed
        when the step started and are neither outputs nor the script, then `--input`s."""
        outputs = {a.path for a in self.output_args()}
        argv = [(a.path, "argv") for a in self.path_args
                if a.existed and a.path not in outputs and a.path != self.step.target]
        return argv + [(p, "declared") for p in self.options.inputs]

    def scan_inputs(self) -> dict[str, Any]:
        """Start stat-ing the input folders from argv and `--input` in child processes
        (`replay.capture.scan`), once and as early as a capture is known to be due:
        they run while the failure path loads and snapshots."""
        if self.scans is None:
            self.scans = {}
            try:
                from replay.capture import scan

                named = [os.path.realpath(os.path.join(self.step.cwd, p)) for p, _ in self.named_inputs()]
                for folder in [f for f in named if os.path.isdir(f)]:
                    if len(self.scans) < scan.MAX_SCANS and folder not in self.scans:
                        self.scans[folder] = scan.FolderScan(folder)
            except BaseException:  # only a speed-up: never a reason to change the step's outcome
                pass
        return self.scans

    def _wait_for_debugger(self, exc: BaseException, exit_code: int) -> None:
        """Keep the failed process alive for a while with a debugger listening on
        loopback, and show the failure post-mortem to whoever attaches (through an
        SSH tunnel). The step's exit status is unchanged either way."""
        import getpass
        import socket

        from replay import postmortem

        seconds = self.options.wait_for_debugger
        try:
            host, port = postmortem.listen("127.0.0.1", self.options.debug_port)
        except Exception as err:  # a busy port must not change the outcome
            warn(f"cannot listen for a debugger on port {self.options.debug_port}: {err}")
            return
        where = f"{getpass.getuser()}@{socket.gethostname()}"
        postmortem.say(
            f"waiting {seconds:g} s for a debugger on {host}:{port}; from your machine run "
            f"'replay tunnel ssh://{where} --remote-port {port}' and "
            f"'replay tui --attach 127.0.0.1:{port}'"
        )
        if postmortem.wait_for_client(seconds):
            postmortem.present(exc)
            # Raising SystemExit now would stop the client again on the way out.
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(exit_code)
        else:
            postmortem.say("no debugger attached in time; exiting with the step's status")


_active: Agent | None = None


def boundaries_imported() -> None:
    """Called by `replay.boundaries` when it is first imported: the step declares
    boundaries of its own, so the active agent starts recording them."""
    if _active is not None:
        _active.ensure_recording()


class _SdkTrigger:
    """A meta-path entry that never finds anything: the first import of the platform
    SDK switches recording on and wraps the SDK's entry points, then it steps aside."""

    def __init__(self, agent: Agent) -> None:
        self.agent = agent

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> None:
        if name == "azureml":
            sys.meta_path[:] = [f for f in sys.meta_path if f is not self]
            self.agent.ensure_recording()
            from replay import stubs

            stubs.watch_sdk()
        return None


def warn(message: str, prefix: str = "warning: ") -> None:
    stream = getattr(sys, "__stderr__", None) or sys.stderr
    try:
        stream.write(f"replay: {prefix}{message}\n")
        stream.flush()
    except (OSError, ValueError):
        pass


def _step_declares_boundaries(root: str) -> bool:
    """Cheap check for `[tool.replay]` in the step's pyproject, without parsing TOML."""
    folder = root
    for _ in range(6):
        path = os.path.join(folder, "pyproject.toml")
        if os.path.isfile(path):
            try:
                with open(path, encoding="utf-8", errors="replace") as f:
                    return "[tool.replay]" in f.read(200_000)
            except OSError:
                return False
        parent = os.path.dirname(folder)
        if parent == folder:
            break
        folder = parent
    return False
