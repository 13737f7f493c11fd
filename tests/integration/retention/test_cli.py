"""`roomscribe retention status|sweep` through `roomscribe.cli.main`, on the settings' database."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta

import pytest

from helpers.profile import server_env
from helpers.retention import T, ended_room
from roomscribe.cli import main
from roomscribe.config import Settings, get_settings
from roomscribe.retention.service import RetentionService
from roomscribe.retention.tables import RetentionState

DAY = timedelta(days=1)


@pytest.fixture(autouse=True)
def environment(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("ROOMSCRIBE_DATA_DIR", str(settings.data_dir))
    for name, value in server_env(settings.data_dir).items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.fixture(autouse=True)
def rooms(service: RetentionService) -> None:
    service.register(ended_room("old", ended_at=T))
    service.register(ended_room("new", ended_at=T + 20 * DAY))


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, object, str]:
    code = main(["retention", *args])
    out, err = capsys.readouterr()
    return code, json.loads(out) if out else None, err


def test_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["retention", "sweep", "--help"])
    assert "--dry-run" in capsys.readouterr().out


def test_status_of_all_rooms_and_of_one(capsys: pytest.CaptureFixture[str]) -> None:
    code, summary, _ = run(capsys, "status", "--now", "2025-02-01T00:00:00Z")
    assert code == 0
    assert summary == {"now": "2025-02-01T00:00:00Z", "retained": 2, "held": 0, "purging": 0,
                       "purged": 0, "due": 1, "upcoming": 1, "bytes_removed": 0,
                       "next_deadline": "2025-01-31T12:00:00Z"}
    code, room, _ = run(capsys, "status", "new", "--now", "2025-02-01T00:00:00+01:00")
    assert code == 0 and isinstance(room, dict)
    assert (room["now"], room["retain_until"], room["due"], room["may_download"]) == \
        ("2025-01-31T23:00:00Z", "2025-02-20T12:00:00Z", False, True)


def test_sweep_dry_run_then_for_real(capsys: pytest.CaptureFixture[str],
                                     service: RetentionService) -> None:
    code, report, _ = run(capsys, "sweep", "--now", "2025-02-01T00:00:00Z", "--dry-run")
    assert code == 0 and isinstance(report, dict)
    assert (report["due"], report["purged"], report["dry_run"]) == (["old"], [], True)
    assert service.get("old").state is RetentionState.RETAINED

    code, report, _ = run(capsys, "sweep", "--now", "2025-02-01T00:00:00Z")
    assert code == 0 and isinstance(report, dict) and report["purged"] == ["old"]
    assert service.get("old").state is RetentionState.PURGED
    assert service.get("new").state is RetentionState.RETAINED


@pytest.mark.parametrize(("args", "message"), [
    (("sweep", "--now", "2025-02-01T00:00:00"), "give a UTC offset"),
    (("sweep", "--now", "yesterday"), "not an ISO 8601 instant"),
    (("status", "nope"), "no retained recording for room nope"),
])
def test_operator_mistakes_are_one_line(capsys: pytest.CaptureFixture[str], args: tuple[str, ...],
                                        message: str) -> None:
    code, out, err = run(capsys, *args)
    assert code == 2 and out is None
    assert err.count("\n") == 1 and message in err
