"""What the batch-inference (parallel run) rules read from a capture.

A batch failure reaches a capture two ways: as a mini-batch capture (`kind ==
"minibatch"`, with the step's configuration and each try in `extra`), or as the text a
batch job leaves in a step capture's failure and logs (`replay parallel run` run under
`replay capture`, or a driver calling the entry script). Both carry the contract's
messages, as `replay.parallel` words them (`contract.count_result`, the runner's short
result and error-threshold lines, the executors' timeout); the patterns below match
those messages, and the rules' tests run the real runner to keep them in step.
Everything in `extra` is optional: a missing key means "not known", never an error.
"""

from __future__ import annotations

import re
from typing import Any

from replay.doctor.context import Context

RETURNED_NONE = re.compile(r"run\(\) returned None\b")
RETURNED_TYPE = re.compile(r"run\(\) returned (?!None\b)([A-Za-z_][\w.]*|a 0-dimensional array)[;:]")
SHORT_RESULT = re.compile(r"run\(\) returned (\d+) element\(s\) for (\d+) input\(s\)")
TIMEOUT = re.compile(r"run_invocation_timeout=(\d+(?:\.\d+)?)s|RunInvocationTimeout")
THRESHOLD = re.compile(r"(\d+) failed (record|file)\(s\) exceed error_threshold (-?\d+)")
ENTRY_MISSING = re.compile(
    r"does not define ((?:init|run)\(\)(?: and (?:init|run)\(\))?)|must define callable init\(\) and run\("
)
STEP_NAME_REFUSED = re.compile(r"step name '([^']*)' is not allowed")

_OPTIONS = {
    "--run-invocation-timeout": "run_invocation_timeout",
    "--mini-batch-size": "mini_batch_size",
    "--error-threshold": "error_threshold",
    "--run-max-try": "run_max_try",
    "--process-count-per-node": "process_count_per_node",
    "--entry-script": "entry_script",
    "--name": "name",
}


def config(ctx: Context) -> dict[str, Any]:
    """The step's ParallelRunConfig values that are known: from a mini-batch capture's
    `extra["config"]`, else from the options of a captured batch job's command line
    (`replay parallel run --run-invocation-timeout 30 ...`). Only the batch rules ask,
    and only once a batch message matched, so an unrelated `--name` is never read."""
    known = {key: value for key, value in ctx.extra_dict("config").items() if value is not None}
    argv = ctx.manifest.step.argv
    for i, token in enumerate(argv):
        option, sep, value = token.partition("=")
        if option in _OPTIONS and not sep and i + 1 < len(argv):
            value = argv[i + 1]
        if option in _OPTIONS and value:
            known.setdefault(_OPTIONS[option], value)
    return known


def setting(ctx: Context, key: str, default: str) -> str:
    """One configuration value for a fix text: `10 (default)` when the capture does not say."""
    value = config(ctx).get(key)
    return f"{default} (default)" if value is None else str(value)


def try_durations(ctx: Context, kind: str) -> list[float]:
    """Measured durations, in seconds, of a mini-batch's tries that failed with `kind`."""
    found = []
    for attempt in ctx.minibatch_tries:
        duration = attempt.get("duration")
        if attempt.get("type") == kind and isinstance(duration, (int, float)):
            found.append(float(duration))
    return found
