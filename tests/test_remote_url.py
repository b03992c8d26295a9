"""Store URLs and SSH targets are read the way ssh and sftp users write them."""

from __future__ import annotations

import subprocess
import sys

import pytest

from replay.errors import UsageError
from replay.remote.url import StoreURL, Target, is_remote, parse_store_url, parse_target


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("gpu-box", Target("gpu-box")),
        ("me@gpu-box", Target("gpu-box", "me")),
        ("me@gpu-box:2222", Target("gpu-box", "me", 2222)),
        ("ssh://me@gpu-box:2222", Target("gpu-box", "me", 2222)),
        ("ssh://gpu-box", Target("gpu-box")),
        ("me@[::1]:2222", Target("::1", "me", 2222)),
        ("fe80::1", Target("fe80::1")),
        ("first.last@host", Target("host", "first.last")),
    ],
)
def test_targets_are_read_like_ssh_reads_them(text: str, expected: Target) -> None:
    assert parse_target(text) == expected


@pytest.mark.parametrize(
    "text", ["me@", "me@host:0", "me@host:http", "ssh://host/path", "me@[::1]x"]
)
def test_malformed_targets_are_usage_errors(text: str) -> None:
    with pytest.raises(UsageError):
        parse_target(text)


def test_store_url_keeps_user_port_and_absolute_path() -> None:
    url = parse_store_url("sftp://me@gpu-box:2222/srv/replay/")
    assert url == StoreURL(Target("gpu-box", "me", 2222), "/srv/replay")
    assert str(url) == "sftp://me@gpu-box:2222/srv/replay"


def test_store_url_tilde_means_relative_to_the_login_folder() -> None:
    url = parse_store_url("sftp://gpu/~/project/.replay")
    assert url.path == "project/.replay"
    assert str(url) == "sftp://gpu/~/project/.replay"


@pytest.mark.parametrize(
    "text", ["sftp://host", "sftp://host/", "ssh://host/x", "sftp://host:99999/x", "sftp://h/x?y=1"]
)
def test_store_urls_without_a_folder_or_with_extras_are_refused(text: str) -> None:
    with pytest.raises(UsageError):
        parse_store_url(text)


def test_only_sftp_urls_are_remote_stores() -> None:
    assert is_remote("sftp://host/srv/replay")
    assert not is_remote("/srv/replay")
    assert not is_remote("outputs/.replay")


def test_naming_remote_stores_and_fetching_from_folders_never_loads_paramiko() -> None:
    code = (
        "import sys, replay.remote.url, replay.remote.transfer\n"
        "import replay.cli.fetch, replay.cli.tunnel\n"
        "print('paramiko' in sys.modules)"
    )
    shown = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert shown.stdout.splitlines()[-1] == "False"
