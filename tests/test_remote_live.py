"""The remote job's side of SSH: publishing captures to an sftp:// store, and a live,
failed process reached through `replay tunnel`'s port forward."""

from __future__ import annotations

from pathlib import Path

from replay.dap import attach
from replay.remote.tunnel import open_tunnel
from replay.store import LocalStore
from tests.conftest import run_replay
from tests.waiting_step import STEP, start_waiting, waiting_port


def _job_env(clean_env: dict[str, str], home: Path) -> dict[str, str]:
    env = {k: v for k, v in clean_env.items() if k not in ("REPLAY_STORE", "SSH_AUTH_SOCK")}
    return {**env, "HOME": str(home)}


def test_capture_publishes_to_an_sftp_store_and_keeps_a_local_copy(
    sshd, ssh_home, tmp_path, clean_env
):
    (ssh_home / ".ssh" / "config").write_text(
        f"Host *\n  IdentityFile {sshd.client_key}\n  UserKnownHostsFile {sshd.known_hosts}\n"
    )
    remote = tmp_path / "remote-store"
    script = tmp_path / "step.py"
    script.write_text(STEP)
    url = sshd.url(remote)
    result = run_replay(["capture", "--store", url, "--", "python", str(script)],
                        _job_env(clean_env, ssh_home), cwd=tmp_path)
    assert result.returncode == 1
    assert f" in {url} (replay run " in result.stderr
    (capture_id,) = LocalStore(remote).ids()
    assert LocalStore(remote).verify(capture_id) == []
    assert LocalStore(tmp_path / ".replay").ids() == [capture_id]


def test_unreachable_remote_store_keeps_the_capture_locally(ssh_home, tmp_path, clean_env):
    script = tmp_path / "step.py"
    script.write_text(STEP)
    result = run_replay(["capture", "--store", "sftp://nobody@127.0.0.1:9/store", "--",
                         "python", str(script)], _job_env(clean_env, ssh_home), cwd=tmp_path)
    assert result.returncode == 1
    assert "ZeroDivisionError" in result.stderr
    (line,) = [x for x in result.stderr.splitlines() if x.startswith("replay: captured")]
    assert f"in {tmp_path / '.replay'} (not sent to sftp://nobody@127.0.0.1:9/store" in line
    assert len(LocalStore(tmp_path / ".replay").ids()) == 1


def test_tunnel_carries_a_debug_session_to_the_waiting_failed_process(
    sshd, ssh_options, tmp_path, clean_env
):
    script = tmp_path / "step.py"
    job = start_waiting(tmp_path, clean_env, 60)
    try:
        port = waiting_port(job)
        events: list[object] = []
        with open_tunnel(sshd.target, port, options=ssh_options, on_event=events.append) as tunnel:
            with attach("127.0.0.1", tunnel.local_port, exception_filters=()) as session:
                stop = session.wait_for_stop(timeout=30)
                assert stop.top.name == "divide" and stop.top.path == str(script)
                assert session.locals_of(stop.top.id)["row"].value == "0"
                session.client.continue_(stop.thread_id)
            assert events, "the tunnel reports its connections"
        assert job.wait(timeout=60) == 1
    finally:
        job.kill()


def test_publishing_to_a_remote_store_leaves_the_step_its_main_thread(ssh_home, tmp_path, clean_env):
    """The remote push loads `threading` on the agent's worker thread; had that been its
    first import, the step's own thread would no longer be the main thread by the time
    its exit handlers ran."""
    script = tmp_path / "step.py"
    script.write_text(
        "import atexit, sys\n"
        "def check():\n"
        "    import threading\n"
        "    print('main' if threading.current_thread() is threading.main_thread() else 'not main')\n"
        "atexit.register(check)\n"
        "sys.exit(3)\n"
    )
    result = run_replay(["capture", "--store", "sftp://nobody@127.0.0.1:9/store", "--",
                         "python", str(script)], _job_env(clean_env, ssh_home), cwd=tmp_path)
    assert result.returncode == 3
    assert "replay: captured" in result.stderr
    assert result.stdout.strip() == "main"
