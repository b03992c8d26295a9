"""The replayed step's process: `python -m replay.engine.harness SPEC.json`.

It runs the step in-process at native speed, the same `__main__` way it ran
remotely, with upstream calls served from the capture. When the step fails and a
debugger is wanted, it starts debugpy only then and presents the failure post-mortem
at the failure site, so the client lands on the failing line with the failing
iteration's locals without the step paying for tracing beforehand. `--from-start`
listens before the step runs, for stepping through it. A captured mini-batch of a batch
step runs as the platform runs it, `init()` then `run(mini_batch)`
(`replay.parallel.minibatch`), under the same stubs, verdict and debugger.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

from replay.capture.discover import real_failure
from replay.capture.failure import trim_traceback, type_name
from replay.capture.watch import LogTail
from replay.document import relative_to_root
from replay.engine.upstream import install_upstream
from replay.launch import Ended, Plan, exit_like, report, run_in_process
from replay.postmortem import listen, present, say, site_of, wait_for_client


def signature_of(exc: BaseException, source_root: str) -> dict[str, Any]:
    judged = getattr(exc, "signature_type", None)
    if judged:  # a batch runner's rule failed the step (a short result, a timeout): no line of its own
        return {"type": judged, "file": "", "function": "", "line": 0, "message": str(exc)[:10_000]}
    site = site_of(exc.__traceback__)
    return {
        "type": type_name(exc),
        "file": relative_to_root(site.tb_frame.f_code.co_filename, source_root) if site else "",
        "function": site.tb_frame.f_code.co_name if site else "",
        "line": site.tb_lineno if site else 0,
        "message": str(exc)[:10_000],
    }


def _listen(attach: dict[str, Any]) -> None:
    try:
        host, port = listen(attach["host"], int(attach["port"]), attach["ready_file"])
    except (OSError, RuntimeError) as exc:
        say(f"cannot listen on {attach['host']}:{attach['port']}: {exc}")
        raise SystemExit(2) from None
    say(f"debugger listening on {host}:{port} (sub-process debugging off); attach with "
        f'VS Code "Replay: attach" or: replay tui --attach {host}:{port}')
    wait_for_client(None)


def _setup_error(exc: BaseException | None) -> str | None:
    """The replay's own refusal (an upstream call never recorded, a management call),
    found anywhere in the failure's chain: the replay could not be faithful, so no
    verdict is given."""
    from replay.errors import ReplaySetupError
    from replay.stubs.service import NotAvailable

    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, (ReplaySetupError, NotAvailable)):
            return str(exc)
        exc = exc.__cause__ or exc.__context__
    return None


def _run_step(spec: dict[str, Any]) -> Ended:
    """The step as it ran: a script or module as `__main__`, or a batch step's mini-batch."""
    if spec.get("minibatch"):
        from replay.parallel.minibatch import run_minibatch

        return run_minibatch(spec)
    return run_in_process(Plan(spec["mode"], spec["target"], spec["args"]))


def main(spec_path: str) -> Ended:
    spec = json.loads(Path(spec_path).read_text())
    os.chdir(spec["cwd"])
    attach = spec.get("attach")
    upstream = install_upstream(spec)
    if attach and attach.get("from_start"):
        _listen(attach)
    logs = LogTail()
    logs.start()
    ended = _run_step(spec)
    logs.stop()
    failing = real_failure(ended.exc, ended.exit_code, logs.records)
    report(ended, trim_traceback(ended.tb))
    setup_error = _setup_error(failing)
    result = {
        "exit_code": ended.exit_code,
        "setup_error": setup_error,
        "signature": signature_of(failing, spec["source_root"]) if failing is not None else None,
        "platform_log": upstream.platform_log() if upstream is not None else [],
    }
    Path(spec["result_file"]).write_text(json.dumps(result, default=str))
    if attach and failing is not None and setup_error is None:
        if not attach.get("from_start"):
            _listen(attach)
        present(failing)
    return ended


if __name__ == "__main__":
    ended = main(sys.argv[1])
    if "debugpy" in sys.modules:
        # A SystemExit now would stop an attached client a second time, on the harness's
        # own exit ("uncaught exception"); leave without raising one.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(ended.exit_code)
    exit_like(ended)
