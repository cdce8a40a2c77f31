"""Issue 3, compatibility: the official Voucherify Python SDK (``voucherify`` 6.x, synchronous,
urllib3) pointed at ``python -m gateway`` with ``Configuration(host=...)`` validates, redeems,
rolls back (single and stacked), checks qualifications and releases a session, parsing every
answer into its own models; the values it reads are the engine's.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import redis
import voucherify as v
from gateway_fixtures import APP_ID, APP_TOKEN, Server, counter

pytestmark = pytest.mark.slow


@pytest.fixture
def api(server: Server) -> Iterator[v.ApiClient]:
    cfg = v.Configuration(host=server.url, api_key={"X-App-Id": APP_ID, "X-App-Token": APP_TOKEN})
    with v.ApiClient(cfg) as c:
        yield c


@pytest.fixture
def rc(server: Server) -> Iterator[redis.Redis]:
    c = redis.Redis.from_url(server.redis_url)
    yield c
    c.close()


def _order(amount: int) -> dict[str, Any]:
    return {
        "amount": amount,
        "items": [{"product_id": "prod_a", "quantity": amount // 1000, "price": 1000}],
    }


def test_sdk_validate_redeem_rollback(api: v.ApiClient, server: Server, rc: redis.Redis) -> None:
    req = {
        "redeemables": [{"object": "voucher", "id": "GEN5"}, {"object": "promotion_tier", "id": "promo_10off"},
                        {"object": "voucher", "id": "GIFT100", "gift": {"credits": 2000}}],
        "customer": {"source_id": "cus_sdk"},
        "order": _order(10000),
    }  # fmt: skip
    val = v.ValidationsApi(api).validate_stacked_discounts(
        v.ValidationsValidateRequestBody.from_dict(req)
    )
    assert val.valid is True
    assert [r.status for r in val.redeemables] == ["APPLICABLE"] * 3
    assert val.redeemables[0].result.discount.amount_off == 500
    assert val.redeemables[2].result.gift.credits == 2000
    assert val.order.total_discount_amount == 500 + 1000 + 2000
    assert val.order.total_amount == 10000 - 3500
    assert val.stacking_rules.redeemables_limit == 30

    red = v.RedemptionsApi(api).redeem_stacked_discounts(
        v.RedemptionsRedeemRequestBody.from_dict(req)
    )
    assert red.parent_redemption.result == "SUCCESS"
    assert len(red.redemptions) == 3
    assert {r.redemption for r in red.redemptions} == {red.parent_redemption.id}
    assert red.order.total_discount_amount == 3500
    gift = [r for r in red.redemptions if r.voucher is not None and r.voucher.code == "GIFT100"][0]
    assert gift.gift.amount == 2000
    assert counter(rc, server.prefix, "{c:camp_gift}:v:GIFT100:spent") == 2000

    # single rollback of the gift child: credits come back
    rb = v.RedemptionsApi(api).rollback_redemption(gift.id, reason="partial refund")
    assert rb.status == "SUCCEEDED" and rb.redemption == gift.id and rb.reason == "partial refund"
    assert counter(rc, server.prefix, "{c:camp_gift}:v:GIFT100:spent") == 0
    with pytest.raises(v.exceptions.BadRequestException) as exc:
        v.RedemptionsApi(api).rollback_redemption(gift.id)
    assert exc.value.status == 400 and "already_rolled_back" in exc.value.body

    # stacked rollback of the rest
    uses = counter(rc, server.prefix, "{c:camp_gen}:v:GEN5:uses")
    rbs = v.RedemptionsApi(api).rollback_stacked_redemptions(
        red.parent_redemption.id, reason="canceled"
    )
    assert rbs.parent_rollback.redemption == red.parent_redemption.id
    assert rbs.parent_rollback.status == "SUCCEEDED"
    assert len(rbs.rollbacks) == 2  # the gift child was already rolled back on its own
    assert rbs.order.status == "CANCELED"
    assert counter(rc, server.prefix, "{c:camp_gen}:v:GEN5:uses") == uses - 1

    with pytest.raises(v.exceptions.NotFoundException):
        v.RedemptionsApi(api).rollback_redemption("r_unknown_sdk")


def test_sdk_qualifications(api: v.ApiClient) -> None:
    body = v.QualificationsCheckEligibilityRequestBody.from_dict(
        {
            "customer": {"source_id": "cus_sdk"},
            "order": _order(10000),
            "scenario": "ALL",
            "options": {"limit": 50, "sorting_rule": "BEST_DEAL"},
        }  # fmt: skip
    )
    q = v.QualificationsApi(api).check_eligibility(body)
    ids = [r.id for r in q.redeemables.data]
    assert {"GEN5", "promo_10off", "promo_5pct"} <= set(ids), ids
    assert q.redeemables.total == len(ids) and q.redeemables.has_more is False
    amounts = [
        r.order.total_applied_discount_amount or r.order.total_discount_amount
        for r in q.redeemables.data
    ]
    assert amounts == sorted(amounts, reverse=True)


def test_sdk_session_lock_and_release(api: v.ApiClient, server: Server, rc: redis.Redis) -> None:
    req = {"redeemables": [{"object": "voucher", "id": "LOCK1"}], "customer": {"source_id": "cus_a"},
           "order": _order(5000), "session": {"type": "LOCK", "key": "ssn_sdk_1", "ttl": 60, "ttl_unit": "SECONDS"}}  # fmt: skip
    val = v.ValidationsApi(api).validate_stacked_discounts(
        v.ValidationsValidateRequestBody.from_dict(req)
    )
    assert val.valid is True and val.session.key == "ssn_sdk_1" and val.session.type == "LOCK"
    other = {"redeemables": [{"object": "voucher", "id": "LOCK1"}], "customer": {"source_id": "cus_b"},
             "order": _order(5000)}  # fmt: skip
    val2 = v.ValidationsApi(api).validate_stacked_discounts(
        v.ValidationsValidateRequestBody.from_dict(other)
    )
    assert val2.valid is False
    assert val2.redeemables[0].result.error.key == "quantity_exceeded"
    assert v.VouchersApi(api).release_validation_session("LOCK1", "ssn_sdk_1") is None
    red = v.RedemptionsApi(api).redeem_stacked_discounts(
        v.RedemptionsRedeemRequestBody.from_dict(other)
    )
    assert red.redemptions[0].voucher.code == "LOCK1"
    assert counter(rc, server.prefix, "{c:camp_lock}:v:LOCK1:uses") == 1
    with pytest.raises(v.exceptions.BadRequestException) as exc:
        v.RedemptionsApi(api).redeem_stacked_discounts(
            v.RedemptionsRedeemRequestBody.from_dict(other)
        )
    assert "quantity_exceeded" in exc.value.body


def test_sdk_wrong_token_is_unauthorized(server: Server) -> None:
    cfg = v.Configuration(host=server.url, api_key={"X-App-Id": APP_ID, "X-App-Token": "nope"})
    req = v.ValidationsValidateRequestBody.from_dict(
        {"redeemables": [{"object": "voucher", "id": "GEN5"}]}
    )
    with v.ApiClient(cfg) as c, pytest.raises(v.exceptions.UnauthorizedException) as exc:
        v.ValidationsApi(c).validate_stacked_discounts(req)
    assert exc.value.status == 401 and "unauthorized" in exc.value.body
