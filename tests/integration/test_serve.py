"""`roomscribe serve` starts a real server that answers its health page and OpenAPI schema."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_serve_answers_health_and_schema(tmp_path: Path) -> None:
    port = free_port()
    env = {**os.environ, "ROOMSCRIBE_DATA_DIR": str(tmp_path / "data")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "roomscribe", "serve", "--port", str(port)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                health = httpx.get(f"http://127.0.0.1:{port}/health", timeout=2)
                break
            except httpx.TransportError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    out = proc.stdout.read().decode() if proc.stdout else ""
                    raise AssertionError(f"server did not start: {out}") from None
                time.sleep(0.3)
        assert health.json()["status"] == "ok"
        schema = httpx.get(f"http://127.0.0.1:{port}/schema/openapi.json", timeout=5)
        assert schema.status_code == 200
        assert schema.json()["info"]["title"] == "Roomscribe"
        assert httpx.get(f"http://127.0.0.1:{port}/schema", timeout=5).status_code == 200
    finally:
        proc.terminate()
        proc.communicate(timeout=20)
