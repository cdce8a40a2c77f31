"""Every kind of definition (campaign, voucher, promotion tier, validation rule, product, SKU) is
read, changed, switched on and off and deleted the same way: a 404 that names its kind and
writes nothing, one audit entry per change with its before and after, created / updated times,
and nothing written for a change that changes nothing."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from admin.testing import AdminServer

COUPONS = {
    "campaign_type": "DISCOUNT_COUPONS",
    "voucher": {"type": "DISCOUNT_VOUCHER", "discount": {"type": "AMOUNT", "amount_off": 500}},
}
PROMO = {
    "campaign_type": "PROMOTION",
    "promotion": {"tiers": [{"name": "t1", "banner": "b1",
                             "action": {"discount": {"type": "AMOUNT", "amount_off": 100}}},
                            {"name": "t2", "action": {"discount": {"type": "AMOUNT", "amount_off": 200}}}]},
}  # fmt: skip
T0 = 1_760_000_000_000
RULES = {"1": {"name": "order.amount", "conditions": {"$more_than": [1]}}, "logic": "1"}
#: the definitions (and so the audit entries' before and after) leave out fields at their default
OMITTED: dict[str, Any] = {"metadata": {}, "active": True}


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> int:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def srv(redis_url: str, key_prefix: str, clock: Clock) -> Iterator[AdminServer]:
    with AdminServer(redis_url, key_prefix, clock=clock) as s:
        yield s


def _ok(srv: AdminServer, method: str, path: str, body: Any = None) -> Any:
    r = srv.request(method, path, **({} if body is None else {"json": body}))
    assert r.status_code in (200, 204), (method, path, r.status_code, r.text)
    return r.json() if r.status_code == 200 else None


def _version(srv: AdminServer) -> int:
    return srv.request("GET", "/ready").json()["definitions_version"]


def _audit(srv: AdminServer) -> list[dict[str, Any]]:
    """Every audit entry, oldest first, without the API keys' own."""
    data = srv.request("GET", "/v1/audit-log", params={"limit": 100}).json()["data"]
    return [e for e in reversed(data) if e["resource_type"] != "key"]


def _has(obj: dict[str, Any] | None, field: str, value: Any) -> bool:
    return obj is not None and obj.get(field, OMITTED.get(field)) == value


def _setup(srv: AdminServer) -> dict[str, str]:
    camp = _ok(srv, "POST", "/v1/campaigns", {"name": "Coupons", **COUPONS})
    promo = _ok(srv, "POST", "/v1/campaigns", {"name": "Promo", **PROMO})
    _ok(srv, "POST", "/v1/vouchers/DOC1", {"campaign_id": camp["id"]})
    rule = _ok(srv, "POST", "/v1/validation-rules", {"name": "R", "rules": RULES})
    _ok(srv, "POST", "/v1/products", {"id": "prod_a", "source_id": "A", "name": "a"})
    _ok(srv, "POST", "/v1/products/prod_a/skus", {"id": "sku_a", "source_id": "A-1", "price": 1})
    _ok(srv, "POST", "/v1/products", {"id": "prod_b", "name": "b"})
    _ok(srv, "POST", "/v1/products/prod_b/skus", {"id": "sku_b"})
    return {"camp": camp["id"], "tier": promo["promotion"]["tiers"][0]["id"], "rule": rule["id"]}


def test_a_missing_object_is_a_404_naming_its_kind_and_writes_nothing(srv: AdminServer) -> None:
    ids = _setup(srv)
    version, audit = _version(srv), _audit(srv)
    rule = ids["rule"]
    calls: list[tuple[str, str, str, str]] = [
        *[(meth, "/v1/campaigns/nope" + tail, "campaign", "nope")
          for meth, tail in (("GET", ""), ("PUT", ""), ("DELETE", ""), ("POST", "/enable"), ("POST", "/disable"),
                             ("POST", "/vouchers"))],
        ("GET", "/v1/promotions/nope/tiers", "campaign", "nope"),
        ("POST", "/v1/promotions/nope/tiers", "campaign", "nope"),
        *[(meth, "/v1/vouchers/NOPE" + tail, "voucher", "NOPE")
          for meth, tail in (("GET", ""), ("PUT", ""), ("DELETE", ""), ("POST", "/enable"), ("POST", "/disable"))],
        *[(meth, "/v1/promotions/tiers/nope" + tail, "promotion_tier", "nope")
          for meth, tail in (("GET", ""), ("PUT", ""), ("DELETE", ""), ("POST", "/enable"), ("POST", "/disable"))],
        *[(meth, "/v1/validation-rules/nope" + tail, "validation_rules", "nope")
          for meth, tail in (("GET", ""), ("PUT", ""), ("DELETE", ""), ("GET", "/assignments"), ("POST", "/assignments"))],
        ("DELETE", f"/v1/validation-rules/{rule}/assignments/asgm_nope", "validation_rules_assignment", "asgm_nope"),
        *[(meth, "/v1/products/nope" + tail, "product", "nope")
          for meth, tail in (("GET", ""), ("PUT", ""), ("DELETE", ""), ("GET", "/skus"), ("POST", "/skus"),
                             ("PUT", "/skus/sku_a"), ("DELETE", "/skus/sku_a"))],
        ("GET", "/v1/skus/nope", "sku", "nope"),
        ("PUT", "/v1/products/prod_a/skus/nope", "sku", "nope"),
        ("DELETE", "/v1/products/prod_a/skus/nope", "sku", "nope"),
        # a SKU of another product is not found under this one
        ("PUT", "/v1/products/prod_a/skus/sku_b", "sku", "sku_b"),
        ("DELETE", "/v1/products/prod_a/skus/sku_b", "sku", "sku_b"),
    ]  # fmt: skip
    for method, path, kind, ident in calls:
        body = {"campaign": ids["camp"]} if path.endswith("/assignments") else {"name": "x"}
        r = srv.request(method, path, json=body)
        assert r.status_code == 404, (method, path, r.status_code, r.text)
        err = r.json()
        assert (err["code"], err["key"], err["message"]) == (404, "not_found", "Resource not found")
        assert err["details"] == f"Cannot find {kind} with id {ident}", (method, path, err)
        assert (err["resource_type"], err["resource_id"]) == (kind, ident), (method, path, err)
    assert _version(srv) == version and _audit(srv) == audit


def test_each_change_is_one_audit_entry_with_its_before_and_after(srv: AdminServer) -> None:
    ids = _setup(srv)
    camp, tier, rule = ids["camp"], ids["tier"], ids["rule"]
    start = len(_audit(srv))
    _ok(srv, "PUT", f"/v1/campaigns/{camp}", {"metadata": {"a": 1}})
    _ok(srv, "POST", f"/v1/campaigns/{camp}/disable")
    _ok(srv, "POST", f"/v1/campaigns/{camp}/enable")
    _ok(srv, "PUT", "/v1/vouchers/DOC1", {"metadata": {"v": 1}})
    _ok(srv, "POST", "/v1/vouchers/DOC1/disable")
    _ok(srv, "POST", "/v1/vouchers/DOC1/enable")
    _ok(srv, "PUT", f"/v1/promotions/tiers/{tier}", {"banner": "b2"})
    _ok(srv, "POST", f"/v1/promotions/tiers/{tier}/disable")
    _ok(srv, "POST", f"/v1/promotions/tiers/{tier}/enable")
    _ok(srv, "PUT", f"/v1/validation-rules/{rule}", {"name": "R2"})
    _ok(srv, "PUT", "/v1/products/A", {"price": 5})  # by source_id
    _ok(srv, "POST", "/v1/products", {"source_id": "A", "price": 6})  # upsert: an update
    _ok(srv, "PUT", "/v1/products/prod_a/skus/A-1", {"price": 2})  # by source_id
    _ok(srv, "DELETE", "/v1/products/prod_a/skus/sku_a")
    _ok(srv, "DELETE", "/v1/products/prod_b")
    _ok(srv, "DELETE", f"/v1/validation-rules/{rule}")
    _ok(srv, "DELETE", f"/v1/promotions/tiers/{tier}")
    _ok(srv, "DELETE", "/v1/vouchers/DOC1")
    _ok(srv, "DELETE", f"/v1/campaigns/{camp}")

    got = [(e["action"], e["resource_type"], e["resource_id"], e["before"], e["after"])
           for e in _audit(srv)[start:]]  # fmt: skip
    expected: list[tuple[str, str, str, Any, Any]] = [
        ("campaign.update", "campaign", camp, ("metadata", {}), ("metadata", {"a": 1})),
        ("campaign.disable", "campaign", camp, ("active", True), ("active", False)),
        ("campaign.enable", "campaign", camp, ("active", False), ("active", True)),
        ("voucher.update", "voucher", "DOC1", ("metadata", {}), ("metadata", {"v": 1})),
        ("voucher.disable", "voucher", "DOC1", ("active", True), ("active", False)),
        ("voucher.enable", "voucher", "DOC1", ("active", False), ("active", True)),
        ("promotion_tier.update", "promotion_tier", tier, ("banner", "b1"), ("banner", "b2")),
        ("promotion_tier.disable", "promotion_tier", tier, ("active", True), ("active", False)),
        ("promotion_tier.enable", "promotion_tier", tier, ("active", False), ("active", True)),
        ("validation_rule.update", "validation_rule", rule, ("name", "R"), ("name", "R2")),
        ("product.update", "product", "prod_a", ("price", None), ("price", 5)),
        ("product.update", "product", "prod_a", ("price", 5), ("price", 6)),
        ("sku.update", "sku", "sku_a", ("price", 1), ("price", 2)),
        ("sku.delete", "sku", "sku_a", ("price", 2), None),
        ("product.delete", "product", "prod_b", ("name", "b"), None),
        ("validation_rule.delete", "validation_rule", rule, ("name", "R2"), None),
        ("promotion_tier.delete", "promotion_tier", tier, ("banner", "b2"), None),
        ("voucher.delete", "voucher", "DOC1", ("code", "DOC1"), None),
        ("campaign.delete", "campaign", camp, ("name", "Coupons"), None),
    ]
    assert [g[:3] for g in got] == [x[:3] for x in expected]
    for (action, _, _, before, after), (_, _, _, want_before, want_after) in zip(
        got, expected, strict=True
    ):
        assert _has(before, *want_before), (action, before)
        assert _has(after, *want_after) if want_after else after is None, (action, after)


def test_created_and_updated_times_follow_the_clock(srv: AdminServer, clock: Clock) -> None:
    ids = _setup(srv)
    paths = {
        "campaign": (f"/v1/campaigns/{ids['camp']}", {"metadata": {"a": 1}}),
        "voucher": ("/v1/vouchers/DOC1", {"metadata": {"a": 1}}),
        "tier": (f"/v1/promotions/tiers/{ids['tier']}", {"banner": "later"}),
        "rule": (f"/v1/validation-rules/{ids['rule']}", {"name": "later"}),
        "product": ("/v1/products/prod_a", {"price": 9}),
        "sku": ("/v1/products/prod_a/skus/sku_a", {"price": 9}),
    }
    created = "2025-10-09T08:53:20.000Z"  # T0
    for n, (kind, (path, body)) in enumerate(paths.items(), start=1):
        clock.now = T0 + n * 60_000
        out = _ok(srv, "PUT", path, body)
        assert out["created_at"] == created, (kind, out)
        assert out["updated_at"] == f"2025-10-09T08:{53 + n}:20.000Z", (kind, out)
    sku = _ok(srv, "GET", "/v1/skus/sku_a")
    assert (sku["created_at"], sku["updated_at"]) == (created, "2025-10-09T08:59:20.000Z")


def test_a_change_that_changes_nothing_writes_nothing(srv: AdminServer) -> None:
    ids = _setup(srv)
    _ok(srv, "PUT", "/v1/vouchers/DOC1", {"metadata": {"a": 1}})
    version, audit = _version(srv), _audit(srv)
    assert _ok(srv, "POST", f"/v1/campaigns/{ids['camp']}/enable")["active"] is True
    assert _ok(srv, "POST", "/v1/vouchers/DOC1/enable")["active"] is True
    assert _ok(srv, "PUT", "/v1/vouchers/DOC1", {"metadata": {"a": 1}})["metadata"] == {"a": 1}
    assert _version(srv) == version and _audit(srv) == audit
    # ... and one that does is written once
    _ok(srv, "POST", f"/v1/campaigns/{ids['camp']}/disable")
    assert _ok(srv, "POST", f"/v1/campaigns/{ids['camp']}/disable")["active"] is False
    assert _version(srv) == version + 1 and len(_audit(srv)) == len(audit) + 1


def test_an_update_audits_the_object_as_it_was(srv: AdminServer) -> None:
    # `unset_metadata_fields` used to remove the fields from the audit entry's `before` as well
    camp = _ok(srv, "POST", "/v1/campaigns", {"name": "C", **COUPONS, "metadata": {"a": 1, "b": 2}})
    _ok(srv, "PUT", f"/v1/campaigns/{camp['id']}", {"unset_metadata_fields": ["a"]})
    entry = _audit(srv)[-1]
    assert entry["action"] == "campaign.update"
    assert entry["before"]["metadata"] == {"a": 1, "b": 2}
    assert entry["after"]["metadata"] == {"b": 2}
