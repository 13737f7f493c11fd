"""Property-based fuzzing of the whole API from its own OpenAPI schema (schemathesis): thousands
of generated requests, valid and not, against a running server, and not one server error.

The caller is signed in and an admin, so the checks reach past authentication; one of its rooms
and another account are supplied as path parameters, so they reach past "not found". The seed is
fixed, so a failure reproduces with the command this test prints.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from helpers.profile import settings_for
from helpers.site import serve
from integration.rooms.harness import FakeCaptionSource, RecordingAudioSink
from roomscribe.accounts.service import AccountService
from roomscribe.db import make_engine

SEED = 20261206
EXAMPLES = 20
"""Generated cases per operation and phase (coverage, fuzzing)."""
SKIPPED = ("captionEvents", "signOut")
"""The event stream never ends by itself, and signing out would revoke the fuzzer's token."""


def test_no_generated_request_makes_the_server_fail(tmp_path: Path) -> None:
    settings = settings_for(tmp_path / "data")
    with serve(settings, caption_source=FakeCaptionSource(),
               audio_sink=RecordingAudioSink()) as site:
        token = site.account("fuzzer")
        site.account("other")
        engine = make_engine(settings)
        AccountService(engine).make_admin("fuzzer", password=None)
        engine.dispose()
        room = site.room("fuzzer", record=True)
        config = tmp_path / "schemathesis.toml"
        config.write_text(f'[parameters]\n"path.room_id" = "{room}"\n"path.handle" = "other"\n')
        command = [str(Path(sys.executable).with_name("st")), "--config-file", str(config),
                   "run", f"{site.url}/schema/openapi.json", "--checks", "not_a_server_error",
                   "-H", f"Authorization: Bearer {token}", "--seed", str(SEED),
                   "--max-examples", str(EXAMPLES), "--phases", "coverage,fuzzing",
                   "--request-timeout", "10", "--workers", "1", "--no-color",
                   *(arg for op in SKIPPED for arg in ("--exclude-operation-id", op))]
        run = subprocess.run(command, capture_output=True, text=True, timeout=900, check=False)
    summary = re.search(r"(\d+) generated, (\d+) passed", run.stdout)
    counts = f"seed {SEED}, {summary.group(1) if summary else '?'} cases"
    print(f"\nschemathesis: {counts}")
    assert run.returncode == 0, f"{counts}\n{run.stdout[-8000:]}"
    assert summary is not None and int(summary.group(1)) == int(summary.group(2)) >= 1000
