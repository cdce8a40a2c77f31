"""Both services' OpenAPI documents, fuzzed with schemathesis against the REAL running apps.

* ``test_*_schema_*``: every route of each app appears in its document, with its request body
  (where it takes one) and its answers, and ``/schema/openapi.json`` answers without a key.
* ``test_fuzz_admin`` / ``test_fuzz_gateway``: schemathesis builds requests from each
  document (valid ones, and invalid ones: wrong types, out-of-range values, missing fields),
  sends them with a valid key to the admin served by ``AdminServer`` and to a
  ``python -m gateway`` process (2 workers), and checks every answer: never a 5xx, a
  documented status, a documented content type, and a body that matches the documented
  schema (the error answers included: Voucherify's ``ErrorBody``).
* ``test_fuzz_*_cli`` (``FUZZ_CLI=1``, ``make fuzz``): the same servers through schemathesis's
  CLI, whose coverage and stateful phases go further (boundary values of every field, chains
  of calls).

Each service writes under its own key prefix (``pgfuzz:<hex>:`` for admin, the gateway
fixtures' ``pgtest:<hex>:``), deleted afterwards, so the fuzzer's writes never reach another
test. ``FUZZ_EXAMPLES`` sets the examples per operation and kind (default 3: a bounded run over every operation;
``make fuzz`` runs many more), ``FUZZ_SEED`` an integer seed (replay) or ``random`` (default:
the same examples every run).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import hypothesis
import hypothesis.errors
import pytest
import redis
import schemathesis
from fuzz_hooks import cap_generation
from gateway_fixtures import APP_ID, APP_TOKEN, running_server
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from admin.openapi import operations as admin_operations
from admin.testing import AdminServer
from gateway.openapi import operations as gateway_operations
from store.redis_server import delete_prefixed

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "3"))
#: unset: the same examples every run (derandomized); ``random``; or an integer seed
SEED = os.environ.get("FUZZ_SEED", "")
HERE = Path(__file__).resolve().parent

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


def _private_prefix() -> str:
    return f"pgfuzz:{uuid.uuid4().hex[:8]}:"


def _load(url: str) -> Any:
    return schemathesis.openapi.from_url(url + "/schema/openapi.json")


def _fuzz_operation(
    operation: Any, mode: GenerationMode, headers: dict[str, str], path: dict[str, str] | None
) -> int:
    """``EXAMPLES`` requests of one kind to one operation (``path``: its path parameters,
    fixed), each judged; returns how many were sent."""
    sent = 0
    strategy = operation.as_strategy(generation_mode=mode, headers=headers, path_parameters=path)

    @hypothesis.settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        derandomize=SEED == "",
        suppress_health_check=list(hypothesis.HealthCheck),
    )
    @hypothesis.given(case=strategy)
    def run(case: Any) -> None:
        nonlocal sent
        cap_generation(case)
        sent += 1
        response = case.call_and_validate(checks=CHECKS, timeout=30)
        # the key is valid: a 401 would mean the fuzzer never got past authentication
        assert response.status_code != 401, response.text[:300]

    if SEED not in ("", "random"):
        run = hypothesis.seed(int(SEED))(run)
    run()
    return sent


def fuzz(
    schema: Any,
    headers: dict[str, str],
    existing: Callable[[], dict[str, str]] | None = None,
) -> int:
    """Every operation of ``schema``: ``EXAMPLES`` valid and ``EXAMPLES`` invalid requests
    each, then as many again with its path naming objects that exist (``existing()``, called
    before each operation, maps path parameter names to such ids: generated ids alone would
    mostly get 404s). Hypothesis shrinks a failure to its smallest case; the failures of all
    operations are reported together. Returns the number of requests sent."""
    sent = 0
    failures: list[str] = []
    for result in schema.get_all_operations():
        operation = result.ok()
        names = re.findall(r"{(\w+)}", operation.path)
        ids = existing() if existing is not None and names else {}
        paths: list[dict[str, str] | None] = [None]
        if names and all(n in ids for n in names):
            paths.append({n: ids[n] for n in names})
        for path in paths:
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                label = f"{operation.label} ({mode.value}{', path ' + str(path) if path else ''})"
                try:
                    sent += _fuzz_operation(operation, mode, headers, path)
                except hypothesis.errors.Unsatisfiable:
                    assert mode == GenerationMode.NEGATIVE  # nothing in it can be made invalid
                except (Exception, BaseExceptionGroup) as exc:  # collected, reported below
                    failures.append(f"{label}:\n{exc}")
    assert not failures, "\n\n".join(failures)
    return sent


def st_run(url: str, key_id: str, token: str, workdir: Path) -> None:
    """``st run`` on the document at ``url``: schemathesis's own phases (coverage: boundary and
    type-violating values of every field; fuzzing; stateful: chains of calls that feed one
    answer's ids into the next call), every check of :data:`CHECKS`, with fuzz_hooks.py."""
    config = workdir / "schemathesis.toml"
    config.write_text(
        f'[auth.openapi.AppId]\napi_key = "{key_id}"\n'
        f'[auth.openapi.AppToken]\napi_key = "{token}"\n'
        f"[generation]\nmax-examples = {EXAMPLES}\n"
    )
    env = dict(os.environ, SCHEMATHESIS_HOOKS="fuzz_hooks", NO_COLOR="1")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(HERE), env.get("PYTHONPATH")) if p)
    cmd = [str(Path(sys.executable).with_name("st")), "--config-file", str(config), "run",
           url + "/schema/openapi.json", "--checks", ",".join(c.__name__ for c in CHECKS)]  # fmt: skip
    if SEED not in ("", "random"):
        cmd += ["--seed", SEED]
    proc = subprocess.run(cmd, env=env, cwd=workdir, capture_output=True, text=True, timeout=3600)
    out = proc.stdout + proc.stderr
    (workdir / "st-run.txt").write_text(out)
    assert "Failures:" not in out and "passed" in out, out[-30_000:]
    if proc.returncode != 0:
        # schemathesis's own runtime errors (its stateful phase sometimes builds a header value
        # http.client cannot encode) are no answer of the service: anything else fails the run
        errors = re.findall(r"^Runtime Error\n\n(.+)$", out, re.M)
        assert errors and all("codec can't encode" in e for e in errors), out[-30_000:]


# ------------------------------------------------------------------------------- admin


COUPONS = {
    "campaign_type": "DISCOUNT_COUPONS",
    "voucher": {"discount": {"type": "AMOUNT", "amount_off": 500}},
}
PROMOTION = {
    "campaign_type": "PROMOTION",
    "promotion": {"tiers": [{"name": "t", "action": {"discount": {"type": "AMOUNT", "amount_off": 100}}}]},
}  # fmt: skip


def existing_admin_objects(srv: AdminServer) -> dict[str, str]:
    """One object of each kind a path names, (re)made when missing (the fuzzer changes and
    deletes them too): path parameter name -> its id."""

    def call(method: str, path: str, body: Any = None, ok: tuple[int, ...] = (200,)) -> Any:
        r = srv.request(method, path, json=body)
        assert r.status_code in ok, (method, path, r.status_code, r.text[:300])
        return r.json() if r.content else None

    def find(path: str) -> Any:
        r = srv.request("GET", path)
        assert r.status_code in (200, 404), (path, r.status_code, r.text[:300])
        return r.json() if r.status_code == 200 else None

    def listed(path: str, ref: str) -> list[Any]:
        return call("GET", path)[ref]

    camp = find("/v1/campaigns/fuzz-coupons") or call(
        "POST", "/v1/campaigns", {"name": "fuzz-coupons", **COUPONS}
    )
    promo = find("/v1/campaigns/fuzz-promotion") or call(
        "POST", "/v1/campaigns", {"name": "fuzz-promotion", **PROMOTION}
    )
    tiers = promo.get("promotion", {}).get("tiers") or [
        call("POST", f"/v1/promotions/{promo['id']}/tiers", PROMOTION["promotion"]["tiers"][0])
    ]
    if find("/v1/vouchers/FUZZ-CODE") is None:
        call("POST", "/v1/vouchers/FUZZ-CODE", {"campaign_id": camp["id"]})
    if find("/v1/products/fuzz-product") is None:
        call("POST", "/v1/products", {"id": "fuzz-product", "name": "p"})
    if find("/v1/skus/fuzz-sku") is None:
        call("POST", "/v1/products/fuzz-product/skus", {"id": "fuzz-sku"}, ok=(200, 404, 409))
    sku = find("/v1/skus/fuzz-sku")
    if find("/v1/customers/fuzz-customer") is None:
        call("POST", "/v1/customers", {"source_id": "fuzz-customer"}, ok=(200, 409))
    rules = listed("/v1/validation-rules?limit=1", "data") or [
        call("POST", "/v1/validation-rules", {"name": "r"})
    ]
    rule = rules[0]["id"]
    assignments = listed(f"/v1/validation-rules/{rule}/assignments", "data") or [
        call("POST", f"/v1/validation-rules/{rule}/assignments",
             {"related_object_type": "campaign", "related_object_id": camp["id"]}, ok=(200, 400, 409))
    ]  # fmt: skip
    segment = call(
        "POST", "/v1/segments", {"name": "s", "customers": ["fuzz-customer"]}, ok=(200, 404)
    )
    key = call("POST", "/v1/keys", {"name": "fuzz", "role": "analyst"})
    actions = listed("/v1/async-actions?limit=1", "async_actions")
    ids = {
        "campaign_id": camp["id"],
        "tier_id": tiers[0]["id"],
        "code": "FUZZ-CODE",
        "product_id": sku["product_id"] if sku else "fuzz-product",
        "sku_id": "fuzz-sku",
        "customer_id": "fuzz-customer",
        "rule_id": rule,
        "key_id": key["id"],
    }
    if assignments and assignments[0] and "id" in assignments[0]:
        ids["assignment_id"] = assignments[0]["id"]
    if segment and "id" in segment:
        ids["segment_id"] = segment["id"]
    if actions:
        ids["action_id"] = actions[0]["id"]
    return ids


@pytest.fixture(scope="module")
def admin_server(redis_url: str) -> Iterator[AdminServer]:
    prefix = _private_prefix()
    try:
        with AdminServer(redis_url, prefix) as srv:
            yield srv
    finally:
        client = redis.Redis.from_url(redis_url)
        try:
            delete_prefixed(client, prefix)
        finally:
            client.close()


@pytest.mark.slow
def test_fuzz_admin(admin_server: AdminServer) -> None:
    sent = fuzz(
        _load(admin_server.url),
        admin_server.headers(),
        lambda: existing_admin_objects(admin_server),
    )
    assert sent >= len(admin_operations()) * 2


@pytest.mark.slow
@pytest.mark.fuzz_cli
def test_fuzz_admin_cli(admin_server: AdminServer, tmp_path: Path) -> None:
    st_run(admin_server.url, admin_server.admin_id, admin_server.admin_token, tmp_path)


def _document(url: str) -> dict[str, Any]:
    r = httpx.get(url + "/schema/openapi.json", timeout=10)  # no key
    assert r.status_code == 200, r.text[:300]
    assert r.headers["content-type"].startswith("application/vnd.oai.openapi+json")
    return r.json()


def _described(doc: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {
        (method.upper(), path): op
        for path, item in doc["paths"].items()
        for method, op in item.items()
        if method in ("get", "put", "post", "delete", "patch")
    }


def _routes(app: Any) -> set[tuple[str, str]]:
    """(METHOD, path) of every route the app serves, outside its /schema docs and the routes it
    leaves out of the schema (admin's web UI pages and static files: HTML, not API)."""
    out = set()
    for route in app.routes:
        if route.path.startswith("/schema"):
            continue
        handlers = getattr(route, "route_handlers", None) or []
        if handlers and all(h.resolve_include_in_schema() is False for h in handlers):
            continue
        path = route.path_format or "/"
        for method in getattr(route, "methods", ()):
            if method not in ("HEAD", "OPTIONS"):
                out.add((method, path))
    return out


def _check_document(
    doc: dict[str, Any], routes: set[tuple[str, str]], table: dict[tuple[str, str], Any]
) -> None:
    ops = _described(doc)
    assert set(ops) == routes, "the document and the app disagree on the routes"
    assert set(table) == routes, "the OpenAPI table and the app disagree on the routes"
    schemes = doc["components"]["securitySchemes"]
    assert {schemes["AppId"]["name"], schemes["AppToken"]["name"]} == {"X-App-Id", "X-App-Token"}
    for key, op in ops.items():
        spec = table[key]
        responses = op["responses"]
        assert set(responses) == {str(s) for s in spec.replies} | {str(s) for s in spec.errors}, key
        for status in spec.errors:  # every error answer is Voucherify's ErrorBody
            schema = responses[str(status)]["content"]["application/json"]["schema"]
            assert schema == {"$ref": "#/components/schemas/ErrorBody"}, (key, status)
        for status, reply in spec.replies.items():
            assert ("content" in responses[str(status)]) == (reply.schema is not None), key
        if spec.bodies:
            body = op["requestBody"]
            assert body["required"] == spec.body_required, key
            assert set(body["content"]) == {b.media_type for b in spec.bodies}, key
            for media in body["content"].values():
                assert media["schema"], key
        else:
            assert "requestBody" not in op, key
        if key[1].startswith("/v1/"):
            assert op["security"] == [{"AppId": [], "AppToken": []}], key
        else:
            assert "security" not in op, key
    error_body = doc["components"]["schemas"]["ErrorBody"]
    assert set(error_body["required"]) == {"code", "key", "message"}


def test_admin_schema_is_public_and_describes_every_route(admin_server: AdminServer) -> None:
    doc = _document(admin_server.url)
    assert doc["info"]["title"] == "promogate admin API"
    _check_document(doc, _routes(admin_server.app), admin_operations())
    # the bodies admin reads by hand are described, field by field
    create = doc["paths"]["/v1/campaigns"]["post"]["requestBody"]["content"]["application/json"]
    assert {"PROMOTION", "DISCOUNT_COUPONS", "GIFT_VOUCHERS"} <= set(
        create["schema"]["discriminator"]["mapping"]
    )
    coupons = doc["components"]["schemas"]["CouponCampaign"]
    assert {"name", "voucher", "campaign_type"} <= set(coupons["required"])
    key = doc["components"]["schemas"]["KeyIn"]
    assert set(key["properties"]["role"]["enum"]) == {
        "admin", "marketer", "support", "analyst", "application"
    }  # fmt: skip
    # the interactive docs too, without a key
    assert httpx.get(admin_server.url + "/schema/swagger", timeout=10).status_code == 200
    # ... while every /v1 call still needs one
    assert httpx.get(admin_server.url + "/v1/campaigns", timeout=10).status_code == 401


# ------------------------------------------------------------------------------- gateway


def existing_redemption(url: str) -> dict[str, str]:
    """A fresh stacked redemption (a code of the test data set with no limit, and a gift card)
    and a reservation, for the calls whose path names them."""
    headers = {"X-App-Id": APP_ID, "X-App-Token": APP_TOKEN}
    body = {"customer": {"source_id": "fuzz"}, "order": {"amount": 10_000},
            "redeemables": [{"object": "voucher", "id": "GEN5"},
                            {"object": "voucher", "id": "GIFT100", "gift": {"credits": 1}}]}  # fmt: skip
    r = httpx.post(url + "/v1/redemptions", json=body, headers=headers, timeout=10)
    assert r.status_code == 200, r.text[:300]
    v = httpx.post(url + "/v1/validations", json={**body, "session": {"type": "LOCK"}},
                   headers=headers, timeout=10)  # fmt: skip
    assert v.status_code == 200, v.text[:300]
    return {
        "redemption_id": r.json()["parent_redemption"]["id"],
        "code": "GEN5",
        "session_key": v.json()["session"]["key"],
    }


@pytest.fixture(scope="module")
def gateway_server(redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """``python -m gateway`` (2 workers) on its own prefix, seeded with the test data set."""
    with running_server(redis_url, tmp_path_factory.mktemp("gateway-fuzz")) as srv:
        yield srv


@pytest.mark.slow
def test_fuzz_gateway(gateway_server: Any) -> None:
    headers = {"X-App-Id": APP_ID, "X-App-Token": APP_TOKEN}
    sent = fuzz(_load(gateway_server.url), headers, lambda: existing_redemption(gateway_server.url))
    assert sent >= len(gateway_operations()) * 2


@pytest.mark.slow
@pytest.mark.fuzz_cli
def test_fuzz_gateway_cli(gateway_server: Any, tmp_path: Path) -> None:
    st_run(gateway_server.url, APP_ID, APP_TOKEN, tmp_path)


def test_gateway_schema_is_public_and_describes_every_route(gateway_server: Any) -> None:
    from gateway.app import create_app

    doc = _document(gateway_server.url)
    assert doc["info"]["title"] == "promogate checkout API"
    _check_document(doc, _routes(create_app()), gateway_operations())
    validate = doc["paths"]["/v1/validations"]["post"]
    assert validate["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ValidationsRequest"
    }
    redeemables = doc["components"]["schemas"]["ValidationsRequest"]["properties"]["redeemables"]
    assert (redeemables["minItems"], redeemables["maxItems"]) == (1, 30)
    assert validate["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ValidationsResponse"
    }


def test_a_stale_table_entry_fails_the_build() -> None:
    """An entry naming a route the app does not serve (renamed, removed) is refused when the app
    is built, so the document never silently drops what the table says."""
    from litestar import Litestar, get

    from store.openapi import OPS_HEALTH, describe

    @get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    app = Litestar(route_handlers=[health])
    with pytest.raises(LookupError, match="GET /gone"):
        describe(app, {("GET", "/health"): OPS_HEALTH, ("GET", "/gone"): OPS_HEALTH},
                 title="t", version="1", description="d")  # fmt: skip
