"""`roomscribe admin create HANDLE` as an operator runs it: a real process, one-line errors."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from argon2 import PasswordHasher
from sqlmodel import select

from helpers.profile import server_env, settings_for
from roomscribe.accounts.tables import Account
from roomscribe.db import make_engine, session_scope


def run(data_dir: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "ROOMSCRIBE_DATA_DIR": str(data_dir), **server_env(data_dir)}
    return subprocess.run([sys.executable, "-m", "roomscribe", *args], input=stdin,
                          capture_output=True, text=True, env=env, timeout=120, check=False)


def stored(data_dir: Path, handle: str) -> Account:
    engine = make_engine(settings_for(data_dir))
    try:
        with session_scope(engine) as session:
            return session.exec(select(Account).where(Account.handle == handle)).one()
    finally:
        engine.dispose()


def test_help_describes_the_command(tmp_path: Path) -> None:
    assert "admin" in run(tmp_path, "--help").stdout
    out = run(tmp_path, "admin", "create", "--help").stdout
    assert "HANDLE" in out and "--password" in out and "--display-name" in out


def test_create_an_admin_with_a_password(tmp_path: Path) -> None:
    proc = run(tmp_path, "admin", "create", "Root", "--password", "long enough",
               "--display-name", "The Operator")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "root created as an admin"
    account = stored(tmp_path, "root")
    assert account.is_admin and account.display_name == "The Operator"
    assert PasswordHasher().verify(account.password_hash, "long enough")


def test_the_password_can_come_on_standard_input(tmp_path: Path) -> None:
    proc = run(tmp_path, "admin", "create", "root", stdin="piped secret\n")
    assert proc.returncode == 0, proc.stderr
    assert PasswordHasher().verify(stored(tmp_path, "root").password_hash, "piped secret")


def test_an_existing_account_is_promoted_and_keeps_its_password(tmp_path: Path) -> None:
    assert run(tmp_path, "admin", "create", "ada", "--password", "first pass").returncode == 0
    proc = run(tmp_path, "admin", "create", "ADA")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "ada is now an admin"
    assert PasswordHasher().verify(stored(tmp_path, "ada").password_hash, "first pass")


def test_bad_input_is_one_line_without_a_traceback(tmp_path: Path) -> None:
    for args, stdin, fragment in (
        (("admin", "create", "x y", "--password", "long enough"), "", "handle"),
        (("admin", "create", "root", "--password", "short"), "", "password"),
        (("admin", "create", "root"), "", "no password"),
    ):
        proc = run(tmp_path, *args, stdin=stdin)
        assert proc.returncode == 2, proc
        assert "Traceback" not in proc.stderr
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and fragment in lines[0], proc.stderr
