"""`replay doctor ID [--json]`, and the rule registry behind it.

The command runs through the real `replay.cli.main`, as `replay doctor` does.
"""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pytest

from replay import cli
from replay.doctor import Finding, diagnose, registry
from replay.store import LocalStore
from tests.doctor_support import capture

UNKNOWN_CURRENCY = """
    RATES = {"EUR": 1.08, "USD": 1.0}

    def to_usd(amount, currency):
        return amount * RATES[currency]

    to_usd(10.5, "CHF")
"""


@pytest.fixture
def doctor(monkeypatch, clean_env, capsys):
    """`replay doctor ARGS` -> (exit status, stdout, stderr)."""
    monkeypatch.setenv("REPLAY_STORE", clean_env["REPLAY_STORE"])

    def run(*args: str) -> tuple[int, str, str]:
        status = cli.main(["doctor", *args])
        out, err = capsys.readouterr()
        return status, out, err

    return run


@pytest.fixture
def unknown_failure(tmp_path, write_script, clean_env):
    script = write_script("convert.py", UNKNOWN_CURRENCY)
    return capture(["python", str(script)], clean_env, tmp_path)


@pytest.fixture
def missing_output(tmp_path, write_script, clean_env):
    script = write_script("save.py", """
        import os, sys
        with open(os.path.join(sys.argv[2], "model.pkl"), "wb") as f:
            f.write(b"weights")
    """)
    return capture(["python", str(script), "--output-dir", str(tmp_path / "model")], clean_env, tmp_path)


def test_capture_with_no_known_pattern_says_so(doctor, unknown_failure):
    status, out, _ = doctor(unknown_failure.id[:6])

    assert status == 0
    assert f"no known failure pattern in capture {unknown_failure.id}" in out
    assert "KeyError: 'CHF'" in out


def test_json_with_no_findings_is_an_empty_list(doctor, unknown_failure):
    status, out, _ = doctor(unknown_failure.id, "--json")

    assert status == 0 and json.loads(out) == []


def test_json_lists_finding_objects(doctor, missing_output):
    status, out, _ = doctor(missing_output.id, "--json")

    (finding,) = json.loads(out)
    assert status == 0
    assert list(finding) == ["code", "severity", "message", "evidence", "fix", "confidence"]
    assert finding["code"] == "output-dir-missing"
    assert finding["severity"] == "error" and finding["confidence"] == "high"
    assert isinstance(finding["evidence"], list) and finding["evidence"]


def test_readable_output_names_code_evidence_and_fix_without_colour_off_a_terminal(doctor, missing_output):
    status, out, _ = doctor(missing_output.id)

    assert status == 0
    assert "error   output-dir-missing  (high confidence)" in out
    assert "    | FileNotFoundError: [Errno 2] No such file or directory:" in out
    assert "  fix: create " in out and "os.makedirs(" in out
    assert "\x1b[" not in out


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_readable_output_is_coloured_on_a_terminal(doctor, missing_output, monkeypatch):
    terminal = _Terminal()
    monkeypatch.setattr("sys.stdout", terminal)

    doctor(missing_output.id)

    assert "\x1b[1;31merror  \x1b[0m" in terminal.getvalue()


def test_unknown_capture_is_one_line_and_exit_2(doctor):
    status, out, err = doctor("abcdef")

    assert status == 2 and out == ""
    assert err.startswith("replay: no capture 'abcdef'") and err.count("\n") == 1


def test_help_text_is_the_module_docstring_with_examples(doctor, capsys):
    with pytest.raises(SystemExit) as exc:
        doctor("--help")

    out = capsys.readouterr().out
    assert exc.value.code == 0
    assert "no known pattern" in out
    assert "replay doctor 3f9a --json | jq -r '.[].code'" in out


def test_every_registered_code_is_stable_unique_and_tested():
    rules = registry.all_rules()
    all_codes = [code for r in rules for code in r.codes]
    tests = "".join(p.read_text() for p in Path(__file__).parent.glob("test_doctor_*.py"))

    assert len(rules) >= 16 and len(all_codes) == len(set(all_codes))
    for code in all_codes:
        assert re.fullmatch(r"[a-z]+(-[a-z]+)+", code), code
        assert f'"{code}"' in tests, f"no test mentions finding code {code}"


def test_a_rule_that_breaks_is_logged_and_the_others_still_report(missing_output, clean_env, monkeypatch, caplog):
    def broken(ctx):
        raise RuntimeError("cannot read this capture")

    rules = {**{r.name: r for r in registry.all_rules()},
             "tests.broken": registry.Rule("tests.broken", ("broken-rule",), broken)}
    monkeypatch.setattr(registry, "_RULES", rules)

    found = diagnose(missing_output, LocalStore(clean_env["REPLAY_STORE"]))

    assert [f.code for f in found] == ["output-dir-missing"]
    assert "doctor rule tests.broken failed" in caplog.text and "cannot read this capture" in caplog.text


def test_findings_come_most_severe_and_surest_first():
    found = sorted(
        [Finding("b-info", "info", "m", "f", "high"), Finding("a-warn", "warning", "m", "f", "low"),
         Finding("c-err", "error", "m", "f", "medium"), Finding("d-err", "error", "m", "f", "high")],
        key=Finding.sort_key,
    )
    assert [f.code for f in found] == ["d-err", "c-err", "a-warn", "b-info"]
