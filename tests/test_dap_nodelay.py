"""enable_pydevd_nodelay() patches pydevd when it can and is harmless when it cannot.

Each case runs in a fresh interpreter: importing pydevd installs hooks we keep out of
the test process. Whether the option reaches a live socket is tested in test_dap_client.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

PREAMBLE = "import os; os.environ['PYDEVD_DISABLE_FILE_VALIDATION'] = '1'\n"


def run(code: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", PREAMBLE + code], capture_output=True, text=True, timeout=60, check=True
    )
    return done.stdout.strip()


def test_it_wraps_start_client_where_pydevd_calls_it_and_only_once() -> None:
    out = run(
        "from replay.dap.nodelay import enable_pydevd_nodelay\n"
        "first, second = enable_pydevd_nodelay(), enable_pydevd_nodelay()\n"
        "import pydevd\n"
        "from _pydevd_bundle import pydevd_comm\n"
        "wrapped = pydevd_comm.start_client\n"
        "wrapped_once = not hasattr(wrapped.__wrapped__, '__wrapped__')\n"
        "print(first, second, pydevd.start_client is wrapped, wrapped_once)\n"
    )

    assert out == "True True True True"


@pytest.mark.parametrize(
    "break_pydevd",
    [
        "import debugpy.server\nfrom _pydevd_bundle import pydevd_comm\ndel pydevd_comm.start_client\n",
        "import sys\nsys.modules['debugpy.server'] = None\n",
    ],
    ids=["start_client moved", "pydevd not importable"],
)
def test_when_pydevd_internals_moved_it_reports_false_and_does_not_raise(break_pydevd: str) -> None:
    out = run(break_pydevd + "from replay.dap.nodelay import enable_pydevd_nodelay\nprint(enable_pydevd_nodelay())\n")

    assert out == "False"
