"""No secret reaches the store: not from env, argv, logs, locals or messages."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import run_replay

SECRETS = {
    "env": "s3cr3t-env-Value-7f3a9c2e",
    "argv": "argv-Token-0b8d1e6f5a4c3b2a",
    "conn": "DefaultEndpointsProtocol=https;AccountName=acct;"
            "AccountKey=QmFzZTY0S2V5VmFsdWVGb3JUZXN0aW5nT25seQ==;EndpointSuffix=core.windows.net",
    "jwt": "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0."
           "dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
}


def _all_store_bytes(root: Path) -> bytes:
    return b"".join(p.read_bytes() for p in root.rglob("*") if p.is_file())


def test_secrets_never_reach_any_byte_of_the_store(tmp_path, write_script, clean_env, store_dir):
    script = write_script("step.py", """
        import logging, os, sys
        logging.basicConfig(level=logging.INFO)
        api_key = os.environ["SERVICE_API_KEY"]
        conn = os.environ["STORAGE"]
        print("connecting with", api_key)
        logging.info("conn=%s", conn)
        token = sys.argv[2]
        def call(secret_token, header):
            raise PermissionError(f"rejected {secret_token} with {header}")
        call(token, "Bearer " + os.environ["ID_TOKEN"])
    """)
    env = {**clean_env, "SERVICE_API_KEY": SECRETS["env"], "STORAGE": SECRETS["conn"],
           "ID_TOKEN": SECRETS["jwt"]}
    result = run_replay(["capture", "--", "python", str(script), "--token", SECRETS["argv"]],
                        env, cwd=tmp_path)
    assert result.returncode == 1
    assert "replay: captured" in result.stderr
    # The step's own stderr is untouched: the secret is in its exception text.
    assert SECRETS["argv"] in result.stderr
    blob = _all_store_bytes(store_dir)
    assert b"PermissionError" in blob
    for name, secret in SECRETS.items():
        assert secret.encode() not in blob, f"{name} secret leaked into the store"
        core = secret.split("AccountKey=")[1].split(";")[0] if name == "conn" else secret
        for part in (core[:12], core[-12:]):
            assert part.encode() not in blob, f"part of the {name} secret leaked"
