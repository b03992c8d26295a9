"""Doctor rules about resources: memory, writes to network mounts, shared source folders.

GIVEN a step that really fails under `replay capture`, WHEN the capture is diagnosed,
THEN the rule's finding is there with its evidence, and a near miss gets none.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.doctor_support import capture, codes, findings, only

if TYPE_CHECKING:
    from tests.sshd import SSHServer



def test_memory_error_with_the_peak_memory(tmp_path, write_script, clean_env):
    script = write_script("embed.py", """
        import numpy as np

        def embed(n_rows):
            return np.zeros((n_rows, 1_000_000), dtype=np.float64)

        embed(10_000_000)
    """)
    m = capture(["python", str(script)], clean_env, tmp_path)

    finding = only(findings(m), "out-of-memory")

    assert finding.confidence == "high"
    assert finding.evidence[0].startswith("numpy._core._exceptions._ArrayMemoryError: Unable to allocate")
    assert "embed.py:5 in embed: return np.zeros((n_rows, 1_000_000), dtype=np.float64)" in finding.evidence
    assert f"peak memory (max RSS): {m.outcome.peak_rss_kb / 1024:,.0f} MB" in finding.evidence
    assert "chunksize" in finding.fix


HOG = """
    import os
    block = bytearray(200 * 1024 * 1024)
    block[::4096] = b"x" * len(block[::4096])
    os.kill(os.getpid(), {signal})
"""


def test_killed_by_sigkill_names_the_signal_and_peak(tmp_path, write_script, clean_env):
    script = write_script("hog.py", HOG.format(signal=9))
    m = capture(["sh", "-c", f"exec python {script}"], clean_env, tmp_path)

    finding = only(findings(m), "out-of-memory")

    assert m.outcome.signal == 9
    assert finding.confidence == "medium"
    assert finding.evidence[0].startswith("killed by signal 9 (SIGKILL) after ")
    assert any(line.startswith("peak memory (max RSS): ") for line in finding.evidence)


def test_shell_reporting_a_child_killed_by_sigkill(tmp_path, write_script, clean_env):
    script = write_script("hog.py", HOG.format(signal=9))
    m = capture(["sh", "-c", f"python {script}; exit $?"], clean_env, tmp_path)

    finding = only(findings(m), "out-of-memory")

    assert m.outcome.exit_code == 137
    assert finding.confidence == "low"
    assert "exited with 137 (128 + SIGKILL" in finding.evidence[0]


def test_near_miss_terminated_by_sigterm(tmp_path, write_script, clean_env):
    script = write_script("hog.py", HOG.format(signal=15))
    m = capture(["sh", "-c", f"exec python {script}"], clean_env, tmp_path)

    assert m.outcome.signal == 15
    assert "out-of-memory" not in codes(findings(m))


APPEND_PER_EPOCH = """
    import sys

    for epoch in range(int(sys.argv[2])):
        with open(sys.argv[1], "a") as log:
            log.write(f"epoch {epoch} loss 0.1\\n")
    raise RuntimeError("loss diverged")
"""


def _fuse_missing() -> str | None:
    if shutil.which("sshfs") is None or shutil.which("fusermount") is None:
        return "sshfs is not installed (apt-get install sshfs)"
    if not os.access("/dev/fuse", os.R_OK | os.W_OK):
        return "/dev/fuse is not usable here"
    return None


@pytest.fixture
def network_mount(tmp_path: Path, sshd: SSHServer) -> Iterator[Path]:
    """A real network filesystem: a folder served by the private sshd, mounted with sshfs."""
    reason = _fuse_missing()
    if reason:
        pytest.skip(reason)
    served, mount = tmp_path / "served", tmp_path / "mnt"
    served.mkdir()
    mount.mkdir()
    options = (f"IdentityFile={sshd.client_key},UserKnownHostsFile={sshd.known_hosts},"
               "StrictHostKeyChecking=yes,BatchMode=yes")
    result = subprocess.run(
        ["sshfs", "-p", str(sshd.port), "-o", options, f"{sshd.user}@{sshd.host}:{served}", str(mount)],
        capture_output=True, text=True, timeout=30,
    )
    if result.returncode != 0:
        pytest.skip(f"sshfs cannot mount here: {result.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["fusermount", "-u", str(mount)], capture_output=True, timeout=30)


def test_appends_to_a_file_on_a_network_mount(tmp_path, write_script, clean_env, network_mount):
    script = write_script("train.py", APPEND_PER_EPOCH)
    log = network_mount / "metrics.log"
    m = capture(["python", str(script), str(log), "12"], clean_env, tmp_path)

    finding = only(findings(m), "network-mount-writes")

    assert finding.confidence == "high"
    assert f"{log}: opened for writing 12 times, filesystem fuse.sshfs" in finding.evidence
    assert ".as_upload(" in finding.fix


def test_near_miss_local_appends_and_a_single_network_write(tmp_path, write_script, clean_env, network_mount):
    script = write_script("train.py", APPEND_PER_EPOCH)
    local = capture(["python", str(script), str(tmp_path / "metrics.log"), "12"], clean_env, tmp_path)
    once = capture(["python", str(script), str(network_mount / "metrics.log"), "1"], clean_env, tmp_path)

    assert "network-mount-writes" not in codes(findings(local)) | codes(findings(once))


FAILING_STEP = 'raise SystemExit("{name} failed")\n'


def test_two_steps_sharing_one_source_folder(tmp_path, write_script, clean_env):
    prep = write_script("prep.py", FAILING_STEP.format(name="prep"))
    train = write_script("train.py", FAILING_STEP.format(name="train"))
    first = capture(["python", str(prep)], clean_env, tmp_path)
    second = capture(["python", str(train)], clean_env, tmp_path)

    finding = only(findings(second, clean_env["REPLAY_STORE"]), "shared-source-directory")

    assert first.extra["source_hash"] == second.extra["source_hash"]
    assert finding.severity == "info"
    assert "steps prep, train share one source folder" in finding.message
    assert f"step prep: capture {first.id}" in finding.evidence
    assert f"source hash {second.extra['source_hash'][:12]} of {tmp_path / 'src'} (2 files)" in finding.evidence
    assert "own source_directory" in finding.fix


def test_near_miss_same_step_twice_and_a_step_in_its_own_folder(tmp_path, write_script, clean_env):
    prep = write_script("prep.py", FAILING_STEP.format(name="prep"))
    train = write_script("train.py", FAILING_STEP.format(name="train"), folder=tmp_path / "train_src")
    capture(["python", str(prep)], clean_env, tmp_path)
    again = capture(["python", str(prep)], clean_env, tmp_path)
    alone = capture(["python", str(train)], clean_env, tmp_path)

    for m in (again, alone):
        assert "shared-source-directory" not in codes(findings(m, clean_env["REPLAY_STORE"]))
