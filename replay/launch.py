"""Run a Python step in this process exactly as `python script.py` or `python -m mod` would.

Both the capture agent and the replay harness run the step in-process, so the
failing frames are theirs to read. Everything a step can observe is kept as the
interpreter sets it: `__main__` module, `sys.argv`, `sys.path[0]`, the traceback
text on stderr and the exit status.
"""

from __future__ import annotations

import builtins
import os
import sys
from _thread import get_ident
from types import TracebackType

TYPE_CHECKING = False  # typing costs the agent's success path
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any, TextIO

SIGINT = 2  # signal.SIGINT on every POSIX system; `signal` loads only to die by it
_HARMLESS_FLAGS = frozenset({"-u", "-B", "-Xfrozen_modules=off"})


class Plan:
    """What to run: a script path or a module name, with its arguments.

    (Plain classes rather than dataclasses here: this module is on the agent's success
    path, and `dataclasses` pulls in `inspect`.)"""

    __slots__ = ("mode", "target", "args")

    def __init__(self, mode: str, target: str, args: list[str]) -> None:
        self.mode = mode  # "script" | "module"
        self.target = target
        self.args = args

    @property
    def argv(self) -> list[str]:
        """`sys.argv` as the step sees it (`-m` steps see the module's file as argv[0],
        which Python sets itself; this is the form recorded in a capture)."""
        return [self.target if self.mode == "script" else f"-m {self.target}", *self.args]


class Ended:
    """How a step ended: the exception it raised (if any) and its exit status."""

    __slots__ = ("exc", "tb", "exit_code", "interrupted")

    def __init__(self, exc: BaseException | None, tb: TracebackType | None, exit_code: int,
                 interrupted: bool = False) -> None:
        self.exc = exc
        self.tb = tb
        self.exit_code = exit_code
        self.interrupted = interrupted


def plan_from_command(cmd: list[str]) -> Plan | None:
    """A `Plan` when `cmd` runs Python on a script or module this interpreter can run
    in-process; None for anything else (it then runs as a child process)."""
    if not cmd:
        return None
    exe = cmd[0]
    if not _is_this_python(exe):
        return None
    rest = cmd[1:]
    while rest and rest[0].startswith("-") and rest[0] != "-m":
        if rest[0] not in _HARMLESS_FLAGS:
            return None
        rest = rest[1:]
    if not rest:
        return None
    if rest[0] == "-m":
        if len(rest) < 2:
            return None
        return Plan("module", rest[1], rest[2:])
    if rest[0] == "-" or rest[0].startswith("-"):
        return None
    return Plan("script", rest[0], rest[1:])


def _is_python_name(name: str) -> bool:
    """`python`, `python3`, `python3.11`."""
    rest = name.removeprefix("python")
    return rest != name and all(part.isdigit() for part in rest.split(".")) if rest else name == "python"


def _is_this_python(exe: str) -> bool:
    if os.sep in exe:  # a path (every child under the start-up hook): no PATH search
        return os.path.realpath(exe) == os.path.realpath(sys.executable)
    if _is_python_name(exe):
        return True  # "python" as typed: the interpreter replay itself runs under
    import shutil

    found = shutil.which(exe)
    return found is not None and os.path.realpath(found) == os.path.realpath(sys.executable)


def source_root(plan: Plan, cwd: str) -> str:
    if plan.mode == "script":
        return os.path.dirname(os.path.realpath(os.path.join(cwd, plan.target)))
    return os.path.realpath(cwd)


def exit_code_of(exc: BaseException | None) -> int:
    """The status Python itself would exit with after `exc` escaped `__main__`."""
    if exc is None:
        return 0
    if isinstance(exc, SystemExit):
        code = exc.code
        if code is None:
            return 0
        if isinstance(code, int):
            return code & 0xFF
        return 1
    if isinstance(exc, KeyboardInterrupt):
        return 130
    return 1


def run_in_process(plan: Plan) -> Ended:
    """Run the step as `__main__` and return how it ended; nothing is printed here."""
    saved_argv, saved_path0 = sys.argv[:], sys.path[0] if sys.path else None
    try:
        if plan.mode == "script":
            sys.argv = [plan.target, *plan.args]
            sys.path[0] = os.path.dirname(os.path.realpath(plan.target))
            _run_script(plan.target)
        else:
            import runpy

            sys.argv = [plan.target, *plan.args]
            sys.path[0] = os.getcwd()
            runpy.run_module(plan.target, run_name="__main__", alter_sys=True)
    except BaseException as exc:  # every outcome is the step's to report
        return Ended(exc, exc.__traceback__, exit_code_of(exc), isinstance(exc, KeyboardInterrupt))
    finally:
        sys.argv = saved_argv
        if saved_path0 is not None and sys.path:
            sys.path[0] = saved_path0
    return Ended(None, None, 0)


def _run_script(path: str) -> None:
    """Execute a script as `__main__`, as the interpreter does for `python path`.

    `runpy.run_path` would do, but it imports `pkgutil` and `typing`, which the agent's
    success path cannot afford."""
    with open(path, "rb") as f:
        source = f.read()
    code = compile(source, path, "exec", dont_inherit=True)
    main = type(sys)("__main__")
    main.__dict__.update(__file__=path, __builtins__=builtins, __cached__=None, __spec__=None,
                         __loader__=None, __package__=None)
    previous = sys.modules.get("__main__")
    sys.modules["__main__"] = main
    try:
        exec(code, main.__dict__)
    finally:
        if previous is not None:
            sys.modules["__main__"] = previous


def report(ended: Ended, trimmed_tb: TracebackType | None) -> str | None:
    """Print what Python prints when an exception ends a program; return the text when
    Python's own hook printed it (see `show_exception`).

    The exception's own traceback is what gets printed, so it is replaced by the
    trimmed one (which drops only the runner's frames)."""
    exc = ended.exc
    if exc is None:
        return None
    exc.__traceback__ = trimmed_tb
    if isinstance(exc, SystemExit):
        code = exc.code
        if code is not None and not isinstance(code, int):
            print(code, file=sys.stderr)
        return None
    try:
        return show_exception(sys.excepthook, exc, trimmed_tb)
    except Exception:
        import traceback

        traceback.print_exception(type(exc), exc, trimmed_tb)
        return None


def show_exception(hook: Callable[..., object], exc: BaseException,
                   tb: TracebackType | None) -> str | None:
    """Call `hook` (a `sys.excepthook`) on `exc`. When it is Python's own hook, also
    return the text it wrote to stderr, if all of it got there: the capture keeps
    exactly what the job printed without loading `traceback`, which with `linecache`,
    `tokenize` and `ast` costs a failing job ~15 ms. Other threads' writes in the
    meantime go through untouched and are not part of the text. From Python 3.13 the
    hook prints through `traceback` itself, in colour on a terminal, so there is
    nothing to save and the text is formatted afresh."""
    if hook is not sys.__excepthook__ or sys.stderr is None or sys.version_info >= (3, 13):
        hook(type(exc), exc, tb)
        return None
    stream = sys.stderr
    transcript = _Transcript(stream)
    sys.stderr = transcript  # type: ignore[assignment]
    try:
        hook(type(exc), exc, tb)
    finally:
        transcript.stop()
        if sys.stderr is transcript:
            sys.stderr = stream
    return None if transcript.broken else "".join(transcript.parts)


class _Transcript:
    """A stderr stand-in that writes through and keeps what one thread wrote, until
    stopped (another thread may have kept it as its own stderr meanwhile)."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._owner: int | None = get_ident()
        self.parts: list[str] = []
        self.broken = False

    def write(self, text: str) -> int:
        recording = isinstance(text, str) and get_ident() == self._owner
        try:
            written = self._stream.write(text)
        except BaseException:  # a closed or broken stderr: Python's hook stops printing
            self.broken = self.broken or recording
            raise
        if recording:
            self.parts.append(text)
        return written

    def stop(self) -> None:
        self._owner = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def die_by(sig: int) -> None:
    """End this process by `sig`, as the step's own process ended, so a parent sees the
    same wait status (SIGKILL and SIGSTOP cannot have a handler to reset)."""
    import signal

    sys.stdout.flush()
    sys.stderr.flush()
    if sig not in (signal.SIGKILL, signal.SIGSTOP):
        signal.signal(sig, signal.SIG_DFL)
    os.kill(os.getpid(), sig)


def exit_like(ended: Ended) -> None:
    """Leave the process the way the step would have: status, or death by SIGINT."""
    if ended.interrupted:
        die_by(SIGINT)
    sys.stdout.flush()
    sys.stderr.flush()
    raise SystemExit(ended.exit_code)
