"""Fixtures for the TUI tests: a fixed store, a fixed clock, fixed analyses, and a
scripted debug adapter, so snapshots and behaviour tests are the same on every run.

The scripted adapter speaks real DAP over real TCP to the real `replay.dap` client; it
only plays a program instead of running one (paths, ids and timings of a live debuggee
vary, and a snapshot must not).
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from textual.pilot import Pilot

from replay.bundle import Manifest
from replay.dap.framing import FrameDecoder, Message, encode
from replay.doctor import Finding
from replay.envdiff import Drift
from replay.store import LocalStore
from tui.app import ReplayApp
from tui.insights import Insights
from tui.widgets.source_view import SourceView
from tui.widgets.status_line import StatusLine

FIXED_NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)

SCORE_PY = '''\
import sys


def score(rows):
    total = 0
    for i, r in enumerate(rows):
        total += 10 / r
    return total


def main():
    rows = [3, 2, 1, 0, 5]
    threshold = 0.5
    print("scoring", len(rows))
    return score(rows)


if __name__ == "__main__":
    main()
'''
SCORE_PATH = "/job/src/score.py"
"""Where the scripted program says its source is: not on this disk, so the TUI asks
the adapter for it, as it does for a remote attach."""


def _manifest(capture_id: str, step: str, created: str, error: tuple[str, str] | None,
              store: LocalStore) -> Manifest:
    source_hash = store.add_bytes(SCORE_PY.encode())
    frames = [
        {"file": SCORE_PATH, "line": 19, "function": "<module>", "code": "main()", "user": True},
        {"file": SCORE_PATH, "line": 15, "function": "main", "code": "return score(rows)", "user": True,
         "locals": {"rows": "[3, 2, 1, 0, 5]", "threshold": "0.5"}},
        {"file": SCORE_PATH, "line": 7, "function": "score", "code": "total += 10 / r", "user": True,
         "locals": {"rows": "[3, 2, 1, 0, 5]", "total": "18.333333333333336", "i": "3", "r": "0",
                    "frame": "   a  b\n0  1  2\n1  3  4"}},
    ]
    failure = None
    if error is not None:
        failure = {"type": error[0], "message": error[1], "frames": frames, "site": 2,
                   "causes": [{"type": "KeyError", "message": "'weights'", "relation": "context"}]}
    data = {
        "id": capture_id, "created": created, "status": "failed" if error else "passed",
        "step": {"name": step, "argv": ["score.py", "--input", "/mnt/data/rows.csv"], "cwd": "/job/src",
                 "mode": "script", "target": SCORE_PATH, "executable": "/usr/bin/python3",
                 "source_root": "/job/src",
                 "sources": [{"path": "score.py", "size": len(SCORE_PY), "sha256": source_hash}]},
        "outcome": {"exit_code": 1 if error else 0, "duration_s": 12.5, "peak_rss_kb": 204800},
        "failure": failure,
        "inputs": [
            {"path": "/mnt/data/rows.csv", "kind": "file", "how": "argv", "size": 2048,
             "sha256": source_hash},
            {"path": "/mnt/data/huge.parquet", "kind": "file", "how": "opened", "size": 9 << 30,
             "copied": False},
        ],
        "outputs": [{"path": "/mnt/out/scores", "existed_at_start": False, "existed_at_end": False}],
        "environment": {
            "variables": {"PATH": "/usr/bin:/bin", "AZUREML_RUN_ID": "run-42", "DB_PASSWORD": "‹redacted›"},
            "redacted": ["DB_PASSWORD"],
            "python": {"implementation": "CPython", "version": "3.11.7"},
            "host": {"hostname": "gpu-box-7"},
        },
        "logs": {"stdout": "loading rows\nscoring 5\n", "stderr": "warning: slow disk\n",
                 "records": [{"time": 1.0, "level": "INFO", "logger": "score", "message": "started"}]},
    }
    return Manifest.model_validate(data)


FIXTURE_CAPTURES = (
    ("3f9a2c81d0e4", "score", "2026-11-27T11:55:00+00:00", ("ZeroDivisionError", "division by zero")),
    ("b71c09e2aa31", "prepare-data", "2026-11-27T09:30:00+00:00", ("KeyError", "'customer_id'")),
    ("0d4e5f6a7b8c", "train", "2026-11-20T08:00:00+00:00", None),
)


def fixture_store(root: Path) -> LocalStore:
    """Three captures with fixed ids and times; the first one was replayed twice."""
    store = LocalStore(root)
    store.ensure()
    for capture_id, step, created, error in FIXTURE_CAPTURES:
        store.publish(_manifest(capture_id, step, created, error, store))
    store.write_json("3f9a2c81d0e4", "verdicts.json", [
        {"verdict": "reproduced", "exit_code": 1, "duration_s": 1.25, "when": "2026-11-27T11:56:00+0000",
         "source": "captured"},
        {"verdict": "passed", "exit_code": 0, "duration_s": 1.1, "when": "2026-11-27T11:58:00+0000",
         "source": "/home/me/src"},
    ])
    return store


def fixed_insights() -> Insights:
    """Doctor and env diff answers that do not depend on this machine."""
    finding = Finding(
        code="output-dir-missing", severity="error", confidence="high",
        message="the step wrote into /mnt/out/scores, which it never created",
        evidence=["FileNotFoundError: [Errno 2] No such file or directory: '/mnt/out/scores/part-0.csv'"],
        fix="os.makedirs(args.output_dir, exist_ok=True) before writing",
    )
    drifts = [
        Drift("version", "pandas", "2.2.3", "3.1.1", in_traceback=True),
        Drift("missing", "azureml-core", "1.57.0", None),
        Drift("extra", "rich", None, "15.0.0"),
    ]
    return Insights(diagnose=lambda manifest: [finding], drift=lambda manifest: drifts)


async def wait_until(pilot: Pilot[Any], condition: Callable[[], bool], timeout: float = 20.0,
                     state: Callable[[], object] | None = None) -> None:
    """Poll the app until `condition` holds (workers finish on their own time);
    on timeout, say what `state` was, so a failure explains itself."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            said = f"; state: {state()!r}" if state is not None else ""
            raise AssertionError(f"condition not met within {timeout} s{said}")
        await pilot.pause(0.05)


class ScriptedDebuggee(threading.Thread):
    """A debug adapter on 127.0.0.1 playing `score.py` stopped at the ZeroDivisionError.

    `next` moves one line down and stops again; `continue` prints output and ends the
    program. Variable 100 is a 230-element list, to see the tree page it.
    """

    BIG_LIST = 100

    def __init__(self) -> None:
        super().__init__(name="scripted-debuggee", daemon=True)
        self._server = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._server.getsockname()[1]
        self.requests: list[Message] = []
        self.line = 7
        self._conn: socket.socket | None = None
        self._seq = 0
        self._send_lock = threading.Lock()

    # -- the program ---------------------------------------------------------------------

    def frames(self) -> list[dict[str, Any]]:
        source = {"path": SCORE_PATH, "name": "score.py"}
        return [
            {"id": 1, "name": "score", "line": self.line, "column": 1, "source": source},
            {"id": 2, "name": "main", "line": 15, "column": 1, "source": source},
            {"id": 3, "name": "<module>", "line": 19, "column": 1, "source": source},
            {"id": 4, "name": "run_path", "line": 291, "column": 1,
             "source": {"path": "/usr/lib/python3.11/runpy.py"}},
        ]

    def variables(self, reference: int) -> list[dict[str, Any]]:
        if reference == 10:  # locals of frame 1
            return [
                {"name": "special variables", "value": "", "type": "", "variablesReference": 11},
                {"name": "i", "value": "3", "type": "int", "variablesReference": 0},
                {"name": "r", "value": "0", "type": "int", "variablesReference": 0},
                {"name": "rows", "value": "[3, 2, 1, 0, 5]", "type": "list", "variablesReference": 12},
                {"name": "scores", "value": "[0, 1, 2, 3, 4, ...]", "type": "list",
                 "variablesReference": self.BIG_LIST},
                {"name": "total", "value": "18.333333333333336", "type": "float", "variablesReference": 0},
            ]
        if reference == 20:  # locals of frame 2, the caller
            return [{"name": "rows", "value": "[3, 2, 1, 0, 5]", "type": "list", "variablesReference": 12}]
        if reference == 12:
            return [{"name": str(i), "value": str(v), "type": "int", "variablesReference": 0}
                    for i, v in enumerate([3, 2, 1, 0, 5])]
        if reference == self.BIG_LIST:
            return [{"name": f"{i:03d}", "value": str(i), "type": "int", "variablesReference": 0}
                    for i in range(230)]
        return []

    # -- the wire ------------------------------------------------------------------------

    def send(self, message: Message) -> None:
        with self._send_lock:
            self._seq += 1
            if self._conn is not None:
                self._conn.sendall(encode({"seq": self._seq, **message}))

    def event(self, name: str, body: dict[str, Any] | None = None) -> None:
        self.send({"type": "event", "event": name, **({"body": body} if body is not None else {})})

    def respond(self, request: Message, body: dict[str, Any] | None = None, *, error: str | None = None) -> None:
        self.send({"type": "response", "request_seq": request["seq"], "command": request["command"],
                   "success": error is None, **({"message": error} if error else {}), "body": body or {}})

    def flood(self, count: int) -> None:
        """`count` stdout fragments at once, as a chatty step under debugpy sends them."""
        for n in range(count):
            self.event("output", {"category": "stdout", "output": f"row {n}\n"})

    def drop(self) -> None:
        """Cut the connection, as a crashed adapter or a dead tunnel would."""
        if self._conn is not None:
            try:
                self._conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass  # the client already closed it

    def close(self) -> None:
        """Stop serving, whether or not a client ever came."""
        self.drop()
        try:
            self._server.shutdown(socket.SHUT_RDWR)  # wakes accept()
        except OSError:
            pass  # already closed after serving
        self.join(5)

    def run(self) -> None:
        try:
            conn, _ = self._server.accept()
        except OSError:
            return  # closed before anyone attached
        self._conn = conn
        decoder = FrameDecoder()
        attach_request: Message | None = None
        try:
            while chunk := conn.recv(65536):
                for request in decoder.feed(chunk):
                    self.requests.append(request)
                    attach_request = self._answer(request, attach_request)
        except OSError:
            pass  # dropped on purpose, or the client went away
        finally:
            conn.close()
            self._server.close()

    def _answer(self, request: Message, attach_request: Message | None) -> Message | None:
        command, args = request["command"], request.get("arguments") or {}
        if command == "initialize":
            self.respond(request, {"supportsConfigurationDoneRequest": True})
            self.event("initialized")
        elif command == "attach":
            return request  # answered after configurationDone, as debugpy does
        elif command == "setBreakpoints":
            self.respond(request, {"breakpoints": [{"verified": True, "line": b["line"]}
                                                   for b in args.get("breakpoints", [])]})
        elif command == "configurationDone":
            self.respond(request)
            if attach_request is not None:
                self.respond(attach_request)
            self.event("process", {"name": SCORE_PATH, "systemProcessId": 4242, "startMethod": "attach"})
            self.event("stopped", {"reason": "exception", "threadId": 1, "description": "division by zero"})
        elif command == "threads":
            self.respond(request, {"threads": [{"id": 1, "name": "MainThread"}]})
        elif command == "stackTrace":
            self.respond(request, {"stackFrames": self.frames(), "totalFrames": 4})
        elif command == "exceptionInfo":
            self.respond(request, {"exceptionId": "ZeroDivisionError       (note: full exception trace…)",
                                   "description": "division by zero", "breakMode": "unhandled"})
        elif command == "scopes":
            frame = args["frameId"]
            self.respond(request, {"scopes": [
                {"name": "Locals", "variablesReference": 10 * frame, "presentationHint": "locals"},
                {"name": "Globals", "variablesReference": 10 * frame + 5},
            ]})
        elif command == "variables":
            self.respond(request, {"variables": self.variables(args["variablesReference"])})
        elif command == "source":
            self.respond(request, {"content": SCORE_PY})
        elif command == "evaluate":
            self.respond(request, {"result": f"<{args['expression']} in frame {args.get('frameId')}>",
                                   "variablesReference": 0})
        elif command == "next":
            self.respond(request)
            self.line += 1
            self.event("continued", {"threadId": 1, "allThreadsContinued": True})
            self.event("stopped", {"reason": "step", "threadId": 1})
        elif command == "continue":
            self.respond(request)
            self.event("continued", {"threadId": 1, "allThreadsContinued": True})
            for n in range(3):
                self.event("output", {"category": "stdout", "output": f"line {n}\n"})
            self.event("exited", {"exitCode": 1})
            self.event("terminated")
        elif command in ("setExceptionBreakpoints", "disconnect"):
            self.respond(request)
        else:
            self.respond(request, error=f"{command} is not scripted")
        return attach_request


def status(app: ReplayApp) -> StatusLine:
    """The debugger screen's status line."""
    return app.screen.query_one(StatusLine)


def source(app: ReplayApp) -> SourceView:
    """The debugger screen's source view."""
    return app.screen.query_one(SourceView)
