"""Pull captures into the local store from a remote store (over SFTP) or a store folder.

Only the blobs the local store lacks are transferred, each verified by its sha256 as it
arrives; a fetch that was interrupted resumes where it stopped when run again, and a
capture appears in the local store only once all of it is there. The remote host's key
is checked against ~/.ssh/known_hosts; ~/.ssh/config aliases (HostName, User, Port,
IdentityFile, ProxyJump) and ssh-agent work as they do for ssh.

examples:
  replay fetch sftp://me@gpu-box/srv/replay             every capture not here yet
  replay fetch sftp://me@gpu-box:2222/srv/replay 3f9a   one capture, by id prefix
  replay fetch sftp://gpu/~/project/.replay -i ~/.ssh/job_key
                                                        an ssh alias, a path under home
  replay fetch sftp://new-box/srv/replay --accept-new-host-key
                                                        first contact: trust its host key
  replay fetch ./job-outputs/.replay                    a store folder from a job's outputs
  replay fetch sftp://gpu/srv/replay --json             what was done, as JSON on stdout
"""

from __future__ import annotations

import argparse
import json

from replay.errors import UsageError
from replay.remote.options import SSHOptions
from replay.remote.progress import TerminalProgress
from replay.remote.url import is_remote
from replay.store import LocalStore, resolve_store_spec

NAME = "fetch"
HELP = "pull captures from sftp://user@host/path or a store folder"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "url", metavar="URL", help="sftp://[user@]host[:port]/path, or a store folder"
    )
    parser.add_argument(
        "ids", nargs="*", metavar="ID", help="capture ids or unique prefixes (default: all)"
    )
    parser.add_argument(
        "--store", help="local store to fill (default: $REPLAY_STORE, else ./.replay)"
    )
    parser.add_argument("--json", action="store_true", help="print a JSON report on stdout")
    SSHOptions.add_arguments(parser)


def _size(n: int) -> str:
    return f"{n / (1 << 20):.1f} MiB" if n >= 1 << 20 else f"{n} bytes"


def run(args: argparse.Namespace) -> int:
    from replay.remote.transfer import fetch

    spec = resolve_store_spec(args.store)
    if is_remote(spec):
        raise UsageError(f"fetch fills a local store; {spec} is remote (give --store FOLDER)")
    bar = TerminalProgress.for_stderr("fetch")
    try:
        report = fetch(
            args.url,
            LocalStore(spec),
            args.ids or None,
            options=SSHOptions.from_args(args),
            progress=bar,
        )
    finally:
        if bar is not None:
            bar.close()
    if args.json:
        print(json.dumps(report.as_dict(), indent=1))
        return 0
    for capture_id in report.transferred:
        print(f"fetched {capture_id}")
    for capture_id in report.present:
        print(f"present {capture_id} (already in {report.destination})")
    if not report.transferred and not report.present:
        print(f"no captures in {report.source}")
    resumed = f", {_size(report.bytes_resumed)} resumed" if report.bytes_resumed else ""
    moved = f"{report.blobs} blob(s), {_size(report.bytes)} transferred{resumed}"
    print(f"{moved} in {report.seconds:.1f} s")
    return 0
