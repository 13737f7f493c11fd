"""docker/compose.yaml cannot be run here (no Docker), so what can be checked without it is:
it parses, every `ROOMSCRIBE_*` it sets is a setting the service reads, the web processes share
one database, Redis and bucket, the ASR workers their Redis, and the proxy sends to each web
service."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from roomscribe.config import Settings

DOCKER = Path(__file__).parents[2] / "docker"


def compose() -> dict[str, Any]:
    return dict(yaml.safe_load((DOCKER / "compose.yaml").read_text()))


def test_every_setting_it_sets_exists() -> None:
    fields = {name.upper() for name in Settings.model_fields}
    for name, service in compose()["services"].items():
        for key in service.get("environment", {}):
            if key.startswith("ROOMSCRIBE_"):
                assert key.removeprefix("ROOMSCRIBE_") in fields, (name, key)


def test_web_processes_share_the_servers_and_the_proxy_reaches_each() -> None:
    services = compose()["services"]
    webs = [name for name in services if name.startswith("web-")]
    assert len(webs) >= 2
    shared = ("ROOMSCRIBE_DATABASE_URL", "ROOMSCRIBE_REDIS_URL", "ROOMSCRIBE_STORAGE_URL")
    for key in shared:
        assert len({services[web]["environment"][key] for web in webs}) == 1, key
    upstream = set(re.findall(r"server (\S+):8000;", (DOCKER / "nginx.conf").read_text()))
    assert upstream == set(webs)
    workers = [name for name in services if name.startswith("worker-")]
    assert len(workers) >= 2
    assert {services[w]["environment"]["ROOMSCRIBE_REDIS_URL"] for w in workers} == {
        services[webs[0]]["environment"]["ROOMSCRIBE_REDIS_URL"]}
    assert all(services[web]["environment"]["ROOMSCRIBE_ASR"] == "workers" for web in webs)
    ports = [services[web]["environment"]["ROOMSCRIBE_RTP_PORTS"] for web in webs]
    assert len(set(ports)) == len(ports), "two media servers on one host need their own ports"
