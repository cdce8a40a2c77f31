"""Admin beside a gateway on one key prefix, the fixtures several suites share (re-exported by
conftest.py), and the helpers that go with them."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import pytest
import voucherify as v
from gateway_fixtures import InProcess, in_process

from admin.testing import AdminServer, GatewayProcess
from core import model as m


@pytest.fixture
def admin_and_gateway(redis_url: str, key_prefix: str) -> Iterator[tuple[AdminServer, InProcess]]:
    """Admin and an in-process gateway (no definitions of its own) on one key prefix, admin
    on the gateway's clock."""
    with (
        in_process(redis_url, key_prefix, m.Definitions()) as g,
        AdminServer(redis_url, key_prefix, clock=g.clock) as srv,
    ):
        yield srv, g


@pytest.fixture
def admin_and_gateway_processes(
    redis_url: str, key_prefix: str
) -> Iterator[tuple[AdminServer, GatewayProcess]]:
    """Admin and a gateway process (two workers) on one key prefix."""
    with AdminServer(redis_url, key_prefix) as adm, GatewayProcess(redis_url, key_prefix) as gw:
        yield adm, gw


def gateway_sdk(gw: GatewayProcess) -> v.ApiClient:
    """The official SDK's client on the gateway, with its application key."""
    cfg = v.Configuration(host=gw.url, api_key={"X-App-Id": gw.app_id, "X-App-Token": gw.app_token})
    return v.ApiClient(cfg)


def keyspace(r: Any, prefix: str, skip: tuple[bytes, ...] = (b"ui:",)) -> dict[bytes, bytes]:
    """Every key under ``prefix`` with its ``DUMP`` (type and value): equal before and after a
    call that must write nothing. Keys containing one of ``skip`` are left out (by default the
    web UI's sessions)."""
    return {k: r.dump(k) for k in r.scan_iter(match=prefix + "*") if not any(s in k for s in skip)}


def club_programme(srv: AdminServer) -> str:
    """A points programme ("Club", cards CLUB-#####): its id."""
    r = srv.request("POST", "/v1/loyalties", json={
        "name": "Club", "voucher": {"loyalty_card": {"points": 0}, "code_config": {"pattern": "CLUB-#####"}}})  # fmt: skip
    assert r.status_code == 200, r.text
    return str(r.json()["id"])


@contextlib.contextmanager
def functions_called(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The names of the Redis functions the auto-pipeliner calls inside the block, in order."""
    from store.autopipe import AutoPipeline

    real = AutoPipeline.evalsha
    called: list[str] = []

    def spy(self: AutoPipeline, script: Any, *args: Any) -> Any:
        called.append(script.name)
        return real(self, script, *args)

    monkeypatch.setattr(AutoPipeline, "evalsha", spy)
    try:
        yield called
    finally:
        monkeypatch.setattr(AutoPipeline, "evalsha", real)
