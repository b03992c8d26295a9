"""Patterns the agent compiles only when a text could match them."""

from __future__ import annotations

import subprocess
import sys

from replay.patterns import LazyPattern


def test_a_pattern_is_compiled_when_first_read_and_then_kept() -> None:
    rule = LazyPattern(rb"to+ken=(\w+)", b"to")
    assert not rule.may_match(b"nothing here")
    assert rule.may_match(b"a tooken=x")
    first = rule.pattern
    assert first.search(b"a tooken=abc").group(1) == b"abc"
    assert rule.pattern is first


def test_texts_without_the_needles_never_load_re() -> None:
    code = (
        "import sys\n"
        "from replay.patterns import LazyPattern\n"
        "rule = LazyPattern(rb'p(?:ass|wd)', b'pass', b'pwd')\n"
        "assert not rule.may_match(b'a log line with nothing secret')\n"
        "print('re' in sys.modules)\n"
        "rule.pattern\n"
        "print('re' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "True"]
