"""Referral programmes (issue 11), as far as they go today: the campaign with its
``referral_program`` through the official SDK (VOUCHERIFY-LOYALTY.md §15b step R3, that exact
body), bad definitions refused with nothing stored, one code per referrer however often or
concurrently it is published (R5), and the referral code at the gateway's checkout: redeemed by
a named friend with the order naming its referrer (R8), never by its referrer (R7,
``referrer_not_permitted_to_redeem``, whether named by id or source_id), never by nobody
(``missing_customer``).
"""

from __future__ import annotations

from typing import Any

import pytest
import voucherify as v
from gateway_fixtures import HEADERS, InProcess
from stacks import club_programme, functions_called

from admin.testing import AdminServer

pytestmark = pytest.mark.filterwarnings(r"ignore:.* is deprecated\.:DeprecationWarning")

R3 = {"name": "Refer a friend", "campaign_type": "REFERRAL_PROGRAM", "type": "AUTO_UPDATE", "join_once": True,
      "voucher": {"type": "DISCOUNT_VOUCHER", "discount": {"type": "AMOUNT", "amount_off": 1000, "effect": "APPLY_TO_ORDER"},
                  "is_referral_code": True, "code_config": {"pattern": "REF-#####"}},
      "referral_program": {"conversion_event_type": "redemption",
                           "referee_reward": {"type": "LOYALTY_CARD", "amount": "50",
                                              "related_object_parent": {"id": "camp_L", "object": "CAMPAIGN"}}}}  # fmt: skip


@pytest.fixture
def stack(admin_and_gateway: tuple[AdminServer, InProcess]) -> tuple[AdminServer, InProcess]:
    return admin_and_gateway


def _r3(club: str, **changes: Any) -> dict[str, Any]:
    body = {**R3, "referral_program": {**R3["referral_program"], **changes}}
    rr = body["referral_program"].get("referee_reward")
    if isinstance(rr, dict):
        body["referral_program"]["referee_reward"] = {**rr, "related_object_parent": {"id": club, "object": "CAMPAIGN"}}
    return body


def test_the_sdk_creates_and_reads_a_referral_programme(stack: tuple[AdminServer, InProcess]) -> None:
    srv, _ = stack
    club = club_programme(srv)
    with srv.sdk() as client:
        api = v.CampaignsApi(client)
        camp = api.create_campaign(v.CampaignsCreateRequestBody.from_dict(_r3(club)))
        assert camp.campaign_type == "REFERRAL_PROGRAM" and camp.join_once is True
        assert camp.voucher.is_referral_code is True and camp.voucher.code_config.pattern == "REF-#####"
        rp = camp.referral_program
        assert rp.conversion_event_type == "redemption"
        # the amount is a string both ways in SDK 6.1.1
        assert rp.referee_reward.amount == "50" and rp.referee_reward.type == "LOYALTY_CARD"
        assert rp.referee_reward.related_object_parent.id == club
        again = api.get_campaign(camp.id)
        assert again.referral_program.referee_reward.amount == "50"
    # a number is accepted too, and answered as a string
    r = srv.request("POST", "/v1/campaigns", json={**_r3(club, referee_reward={
        "type": "LOYALTY_CARD", "amount": 75, "related_object_parent": {"id": club}}), "name": "Refer 2"})  # fmt: skip
    assert r.status_code == 200, r.text
    assert r.json()["referral_program"]["referee_reward"]["amount"] == "75"
    # a custom-event conversion names its event
    body = {**_r3(club, conversion_event_type="custom_event", custom_event={"id": "ms_1", "name": "signed_up"}),
            "name": "Refer 3"}  # fmt: skip
    r = srv.request("POST", "/v1/campaigns", json=body)
    assert r.status_code == 200, r.text
    assert r.json()["referral_program"]["custom_event"] == {"id": "ms_1", "name": "signed_up"}


@pytest.mark.parametrize(
    ("changes", "needle"),
    [
        ({"referee_reward": {"type": "GIFT_VOUCHER", "amount": "500", "related_object_parent": {"id": "CLUB"}}},
         "a GIFT_VOUCHER referee reward credits a GIFT_VOUCHERS campaign, not LOYALTY_PROGRAM"),
        ({"referee_reward": {"type": "LOYALTY_CARD", "amount": "50", "related_object_parent": {"id": "camp_nope"}}},
         "unknown campaign 'camp_nope'"),
        ({"referee_reward": {"type": "LOYALTY_CARD", "amount": "fifty", "related_object_parent": {"id": "CLUB"}}},
         "`amount` must be a whole number of points >= 1"),
        ({"conversion_event_type": "custom_event"}, "a custom_event conversion needs `custom_event.name`"),
        ({"conversion_event_type": "on_friday"}, "conversion_event_type"),
    ],
)  # fmt: skip
def test_bad_referral_programmes_are_refused_and_nothing_is_stored(
    stack: tuple[AdminServer, InProcess], changes: dict[str, Any], needle: str
) -> None:
    srv, _ = stack
    club = club_programme(srv)
    rr = changes.get("referee_reward")
    if rr and rr["related_object_parent"]["id"] == "CLUB":
        changes = {**changes, "referee_reward": {**rr, "related_object_parent": {"id": club}}}
    body = {**R3, "referral_program": {**R3["referral_program"], **changes}}
    before = srv.request("GET", "/v1/campaigns").json()["total"]
    r = srv.request("POST", "/v1/campaigns", json=body)
    assert r.status_code == 400, r.text
    assert needle in r.json()["details"], r.json()
    assert srv.request("GET", "/v1/campaigns").json()["total"] == before


def _check(g: InProcess, code: str, customer: dict[str, str] | None) -> dict[str, Any]:
    body: dict[str, Any] = {"order": {"amount": 5000}, "redeemables": [{"object": "voucher", "id": code}]}
    if customer is not None:
        body["customer"] = customer
    r = g.validate(body)
    assert r.status_code == 200, r.text
    return r.json()


def test_a_referral_code_is_for_friends_not_for_its_referrer(stack: tuple[AdminServer, InProcess]) -> None:
    srv, g = stack
    club = club_programme(srv)
    camp = srv.request("POST", "/v1/campaigns", json=_r3(club))
    assert camp.status_code == 200, camp.text
    pub = srv.request("POST", "/v1/publications", json={"campaign": {"name": "Refer a friend"},
                                                         "customer": {"source_id": "alice"}})  # fmt: skip
    assert pub.status_code == 200, pub.text
    code = pub.json()["voucher"]["code"]
    assert code.startswith("REF-") and pub.json()["voucher"]["is_referral_code"] is True
    # R7: the referrer cannot redeem their own code
    out = _check(g, code, {"source_id": "alice"})
    assert out["valid"] is False
    err = out["redeemables"][0]["result"]["error"]
    assert err["key"] == "referrer_not_permitted_to_redeem" and err["code"] == 400, err
    # a friend can; nobody named cannot (a referral needs a referee)
    out = _check(g, code, {"source_id": "bob"})
    assert out["valid"] is True and out["order"]["total_discount_amount"] == 1000, out
    out = _check(g, code, None)
    assert out["valid"] is False and out["redeemables"][0]["result"]["error"]["key"] == "missing_customer"
    # the friend's redemption goes through
    r = g.redeem({"customer": {"source_id": "bob"}, "order": {"source_id": "ref-o-1", "amount": 5000},
                  "redeemables": [{"object": "voucher", "id": code}]})  # fmt: skip
    assert r.status_code == 200, r.text
    assert r.json()["order"]["total_discount_amount"] == 1000
    # R8: the order names its referrer (the code's holder), in the answer and on the record
    alice = g.redis.get(g.prefix + "customer:src:alice").decode()
    for order in (r.json()["order"], r.json()["parent_redemption"]["order"], r.json()["redemptions"][0]["order"]):
        assert order["referrer_id"] == alice and order["referrer"] == {"id": alice, "object": "customer"}
    import voucherify as sdk

    parsed = sdk.RedemptionsRedeemResponseBody.from_dict(r.json())
    assert parsed.order.referrer_id == alice
    got = g.client.get("/v1/orders/ref-o-1", headers=HEADERS)
    assert got.status_code == 200, got.text
    assert got.json()["referrer_id"] == alice and got.json()["referrer"] == {"id": alice, "object": "customer"}


def test_a_referrer_holds_one_code_however_often_or_concurrently_it_is_published(
    stack: tuple[AdminServer, InProcess],
) -> None:
    """§15b R5: publishing a join-once referral programme to a customer gives their one code,
    the same on every repeat (the SDK's exact call), and 30 publications at once give one."""
    import asyncio

    import httpx

    srv, g = stack
    club = club_programme(srv)
    assert srv.request("POST", "/v1/campaigns", json=_r3(club)).status_code == 200
    with srv.sdk() as client:
        pubs = v.PublicationsApi(client)
        body = v.PublicationsCreateRequestBody.from_dict({"campaign": {"name": "Refer a friend"},
                                                          "customer": {"source_id": "alice"}})  # fmt: skip
        first = pubs.create_publication(join_once=True, publications_create_request_body=body)
        again = pubs.create_publication(join_once=True, publications_create_request_body=body)
    assert first.voucher.code == again.voucher.code and first.voucher.code.startswith("REF-")
    assert first.voucher.is_referral_code is True and first.channel == "API"
    cid = g.redis.get(g.prefix + "customer:src:alice").decode()
    assert first.voucher.holder_id == cid
    # the referrer named by id is refused as well as by source_id
    for who in ({"id": cid}, {"source_id": "alice"}):
        out = _check(g, first.voucher.code, who)
        assert out["redeemables"][0]["result"]["error"]["key"] == "referrer_not_permitted_to_redeem", who

    async def publish_30() -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=srv.url, headers=srv.headers(), timeout=30) as c:
            return await asyncio.gather(*(c.post("/v1/publications", json={
                "campaign": {"name": "Refer a friend"}, "customer": {"source_id": "carol"}}) for _ in range(30)))  # fmt: skip

    resps = asyncio.run(publish_30())
    assert all(r.status_code == 200 for r in resps), [r.text for r in resps if r.status_code != 200][:2]
    codes = {r.json()["voucher"]["code"] for r in resps}
    assert len(codes) == 1
    carol = g.redis.get(g.prefix + "customer:src:carol").decode()
    assert {c.decode() for c in g.redis.smembers(g.prefix + "custcodes:" + carol)} == codes


# -- conversions --------------------------------------------------------------------------------


def _reward(srv: AdminServer, campaign: str, balance: int | None = None, name: str = "reward") -> str:
    params: dict[str, Any] = {"id": campaign}
    if balance is not None:
        params["balance"] = balance
    r = srv.request("POST", "/v1/rewards", json={"name": name, "parameters": {"campaign": params}})
    assert r.status_code == 200, r.text
    return str(r.json()["id"])


def _assign(srv: AdminServer, reward: str, campaign: str) -> None:
    r = srv.request("POST", f"/v1/rewards/{reward}/assignments", json={"campaign": campaign})
    assert r.status_code == 200, r.text


def _programme(srv: AdminServer, **changes: Any) -> tuple[str, str, str]:
    """Club (loyalty, auto-join) + a double-sided referral programme paying the referrer 500
    club points per referee; alice published. Returns (club id, referral campaign id, code)."""
    club = club_programme(srv)
    camp = srv.request("POST", "/v1/campaigns", json=_r3(club, **changes))
    assert camp.status_code == 200, camp.text
    _assign(srv, _reward(srv, club, 500, "500 club points"), camp.json()["id"])
    pub = srv.request("POST", "/v1/publications", json={"campaign": {"id": camp.json()["id"]},
                                                         "customer": {"source_id": "alice", "email": "a@x.io"}})  # fmt: skip
    assert pub.status_code == 200, pub.text
    return club, camp.json()["id"], pub.json()["voucher"]["code"]


def _balance(srv: AdminServer, club: str, who: str) -> int:
    r = srv.request("GET", f"/v1/customers/{who}")
    assert r.status_code == 200, r.text
    return int(r.json()["loyalty"]["points"])


def _redeem_ref(g: InProcess, code: str, who: str, amount: int = 5000) -> Any:
    return g.redeem({"customer": {"source_id": who}, "order": {"amount": amount},
                     "redeemables": [{"object": "voucher", "id": code}]})  # fmt: skip


def test_a_referee_redemption_pays_both_sides_once_and_its_rollback_takes_it_back(
    stack: tuple[AdminServer, InProcess], monkeypatch: pytest.MonkeyPatch
) -> None:

    srv, g = stack
    club, camp_id, code = _programme(srv)
    assert _balance(srv, club, "alice") == 0
    r = _redeem_ref(g, code, "bob")
    assert r.status_code == 200, r.text
    red_id = r.json()["parent_redemption"]["id"]
    alice = g.redis.get(g.prefix + "customer:src:alice").decode()
    # the referee: 10.00 off, 50 points on a Club card, marked referred
    bob = srv.request("GET", "/v1/customers/bob").json()
    assert bob["loyalty"]["points"] == 50, bob["loyalty"]
    assert bob["referrals"]["total"] == 1
    entry = bob["referrals"]["campaigns"][0]
    assert entry == {"campaign_id": camp_id, "referrer_id": alice, "related_object_id": red_id,
                     "related_object_type": "redemption", "date": entry["date"]}  # fmt: skip
    # the referrer: 500 points, one referred customer, a customer.rewarded activity
    me = srv.request("GET", "/v1/customers/alice").json()
    assert me["loyalty"]["points"] == 500 and me["loyalty"]["referred_customers"] == 1, me["loyalty"]
    act = srv.request("GET", "/v1/customers/alice/activity", params={"type": "customer.rewarded"}).json()
    assert len(act["data"]) == 1 and act["data"][0]["data"]["reward"]["name"] == "500 club points", act
    # bob again: refused (a referee is referred once per programme), alice gets nothing more
    again = _redeem_ref(g, code, "bob")
    assert again.status_code == 400 and again.json()["key"] == "customer_already_referred", again.text
    assert _balance(srv, club, "alice") == 500
    # the rollback takes back both rewards and the referral
    rb = g.rollbacks(red_id)
    assert rb.status_code == 200, rb.text
    assert _balance(srv, club, "alice") == 0 and _balance(srv, club, "bob") == 0
    bob = srv.request("GET", "/v1/customers/bob").json()
    assert bob["referrals"] == {"total": 0, "campaigns": []}
    assert srv.request("GET", "/v1/customers/alice").json()["loyalty"]["referred_customers"] == 0
    # bob can be referred again now, and alice is paid again: on the card she holds now, found
    # by a plain read (join.lua runs for bob's reward only)
    with functions_called(monkeypatch) as called:
        assert _redeem_ref(g, code, "bob").status_code == 200
    assert called.count("join") == 1, called
    assert _balance(srv, club, "alice") == 500 and _balance(srv, club, "bob") == 50


def _coupons(srv: AdminServer) -> str:
    r = srv.request("POST", "/v1/campaigns", json={
        "name": "Thanks 30%", "campaign_type": "DISCOUNT_COUPONS", "type": "AUTO_UPDATE",
        "voucher": {"type": "DISCOUNT_VOUCHER", "discount": {"type": "PERCENT", "percent_off": 30},
                    "code_config": {"pattern": "TY-#######"}}})  # fmt: skip
    assert r.status_code == 200, r.text
    return str(r.json()["id"])


def test_referral_tiers_choose_the_referrers_rewards_by_its_count_of_referees(
    stack: tuple[AdminServer, InProcess],
) -> None:
    """From 1 referee: 100 points each; the 3rd referee once: a 30 % coupon; from 5: 1,000
    points more each (promogate's referral tiers, on rewards assigned to the campaign)."""
    srv, g = stack
    club = club_programme(srv)
    coupons = _coupons(srv)
    every, third, big = _reward(srv, club, 100, "100"), _reward(srv, coupons, None, "30 %"), _reward(srv, club, 1000, "1000")
    tiers = [{"min_referees": 1, "rewards": [every]}, {"min_referees": 3, "once": True, "rewards": [third]},
             {"id": "gold", "name": "Gold", "min_referees": 5, "rewards": [big]}]  # fmt: skip
    camp = srv.request("POST", "/v1/campaigns", json=_r3(club, referee_reward=None, referral_tiers=tiers))
    assert camp.status_code == 200, camp.text
    rp = camp.json()["referral_program"]
    assert [t["id"] for t in rp["referral_tiers"]] == ["rt_1", "rt_3_once", "gold"] and "referee_reward" not in rp
    for rw in (every, third, big):
        _assign(srv, rw, camp.json()["id"])
    code = srv.request("POST", "/v1/publications", json={"campaign": {"id": camp.json()["id"]},
                                                          "customer": {"source_id": "alice"}}).json()["voucher"]["code"]  # fmt: skip
    points = []
    for i in range(6):
        assert _redeem_ref(g, code, f"friend-{i}").status_code == 200
        points.append(_balance(srv, club, "alice"))
    assert points == [100, 200, 300, 400, 1500, 2600]
    assert _balance(srv, club, "friend-0") == 0  # one-sided: the referee gets the discount only
    wallet = g.client.get("/v1/customers/alice/redeemables", params={"limit": 50}, headers=HEADERS).json()["data"]
    ty = [w for w in wallet if w["redeemable"]["voucher"]["code"].startswith("TY-")]
    assert len(ty) == 1, wallet  # the once tier paid once
    act = srv.request("GET", "/v1/customers/alice/activity", params={"type": "customer.rewarded", "limit": 50}).json()
    tiers_paid = sorted((a["data"]["referral_tier"] or {}).get("id", "") for a in act["data"])
    assert tiers_paid == sorted(["rt_1"] * 6 + ["rt_3_once"] + ["gold"] * 2), tiers_paid
    # a rolled-back conversion takes back what it paid: the third friend's 100 points and the
    # coupon (revoked: the gateway refuses it from then on)
    alice_coupon = ty[0]["redeemable"]["voucher"]["code"]
    coupon = {"customer": {"source_id": "alice"}, "order": {"amount": 1000},
              "redeemables": [{"object": "voucher", "id": alice_coupon}]}  # fmt: skip
    assert g.validate(coupon).json()["valid"] is True
    third_friend = srv.request("GET", "/v1/customers/friend-2").json()["referrals"]["campaigns"][0]
    assert g.rollbacks(third_friend["related_object_id"]).status_code == 200
    assert _balance(srv, club, "alice") == 2600 - 100
    assert g.validate(coupon).json()["valid"] is False
    r = g.redeem(coupon)
    assert r.status_code in (400, 404), r.text
    # the next friend is the 6th again: 100 + 1,000
    assert _redeem_ref(g, code, "friend-6").status_code == 200
    assert _balance(srv, club, "alice") == 2500 + 1100


def test_a_gift_card_referee_reward(stack: tuple[AdminServer, InProcess]) -> None:
    """A GIFT_VOUCHER referee reward: the referee gets a gift card of the named campaign with
    the amount in cents, which pays at checkout."""
    srv, g = stack
    club = club_programme(srv)
    gifts = srv.request("POST", "/v1/campaigns", json={
        "name": "Gift cards", "campaign_type": "GIFT_VOUCHERS",
        "voucher": {"type": "GIFT_VOUCHER", "gift": {"amount": 1}, "code_config": {"pattern": "GIFT-######"}}})  # fmt: skip
    assert gifts.status_code == 200, gifts.text
    body = _r3(club)
    body["referral_program"]["referee_reward"] = {"type": "GIFT_VOUCHER", "amount": "2500",
                                                  "related_object_parent": {"id": gifts.json()["id"]}}  # fmt: skip
    camp = srv.request("POST", "/v1/campaigns", json=body)
    assert camp.status_code == 200, camp.text
    assert camp.json()["referral_program"]["referee_reward"]["amount"] == "2500"
    code = srv.request("POST", "/v1/publications", json={"campaign": {"id": camp.json()["id"]},
                                                          "customer": {"source_id": "alice"}}).json()["voucher"]["code"]  # fmt: skip
    assert _redeem_ref(g, code, "bob").status_code == 200
    wallet = g.client.get("/v1/customers/bob/redeemables", headers=HEADERS).json()["data"]
    gift = [w for w in wallet if w["redeemable"]["voucher"]["code"].startswith("GIFT-")]
    assert len(gift) == 1 and gift[0]["redeemable"]["voucher"]["gift"]["balance"] == 2500, wallet
    # the gift card pays at checkout
    pay = g.validate({"customer": {"source_id": "bob"}, "order": {"amount": 4000},
                      "redeemables": [{"object": "voucher", "id": gift[0]["redeemable"]["voucher"]["code"]}]})  # fmt: skip
    assert pay.json()["valid"] is True and pay.json()["order"]["total_discount_amount"] == 2500, pay.text


def test_a_referral_converts_on_its_custom_event_once_per_referee(stack: tuple[AdminServer, InProcess]) -> None:
    """R13: a programme converting on ``signed_up``: the event with ``referral{code}`` refers
    the customer and pays both sides; the redemption of the code gives its discount only;
    the same customer again is refused and changes nothing."""
    srv, g = stack
    club, camp_id, code = _programme(srv, conversion_event_type="custom_event",
                                     custom_event={"id": "ms_signup", "name": "signed_up"})  # fmt: skip
    alice = g.redis.get(g.prefix + "customer:src:alice").decode()
    ev = g.post("/v1/events", {"event": "signed_up", "customer": {"source_id": "carol"}, "referral": {"code": code}})
    assert ev.status_code == 200, ev.text
    assert ev.json()["referral"] == {"code": code, "referrer_id": alice}
    assert _balance(srv, club, "alice") == 500 and _balance(srv, club, "carol") == 50
    carol = srv.request("GET", "/v1/customers/carol").json()
    assert carol["referrals"]["campaigns"][0]["related_object_type"] == "custom_event"
    # again: refused, nothing written
    from gateway_fixtures import keyspace

    before = keyspace(g.redis, g.prefix)
    again = g.post("/v1/events", {"event": "signed_up", "customer": {"source_id": "carol"}, "referral": {"code": code}})
    assert again.status_code == 400 and again.json()["key"] == "customer_already_referred", again.text
    assert keyspace(g.redis, g.prefix) == before
    # another event name does not convert; the code's redemption by a friend is a discount only
    other = g.post("/v1/events", {"event": "visited", "customer": {"source_id": "dan"}, "referral": {"code": code}})
    assert other.status_code == 200 and _balance(srv, club, "alice") == 500
    assert _redeem_ref(g, code, "erin").status_code == 200
    assert _balance(srv, club, "alice") == 500
    assert srv.request("GET", "/v1/customers/erin").json()["referrals"]["total"] == 0
    # the referrer cannot refer themselves through the event either
    own = g.post("/v1/events", {"event": "signed_up", "customer": {"source_id": "alice"}, "referral": {"code": code}})
    assert own.status_code == 400 and own.json()["key"] == "referrer_not_permitted_to_redeem"
    # bad referral input: 4xx, nothing written
    before = keyspace(g.redis, g.prefix)
    for bad in ({"code": 5}, {"code": ""}, "REF", {"code": code, "referrer_id": "someone-else"}):
        r = g.post("/v1/events", {"event": "signed_up", "customer": {"source_id": "fay"}, "referral": bad})
        assert r.status_code == 400 and r.json()["key"] == "invalid_payload", (bad, r.text)
    r = g.post("/v1/events", {"event": "signed_up", "customer": {"source_id": "fay"}, "referral": {"code": "NOPE"}})
    assert r.status_code == 404, r.text
    assert {k for k in keyspace(g.redis, g.prefix) if "fay" not in k} == {k for k in before if "fay" not in k}


def test_abuse_a_programme_asks_to_refuse_is_refused_with_its_key(stack: tuple[AdminServer, InProcess]) -> None:
    srv, g = stack
    club, camp_id, code = _programme(srv, new_customers_only=True, unique_contacts=True, max_referees=2)
    # a customer who paid an order before the referral is not new
    assert g.post("/v1/orders", {"customer": {"source_id": "old"}, "amount": 1000, "status": "PAID"}).status_code == 200
    out = _check(g, code, {"source_id": "old"})
    assert out["redeemables"][0]["result"]["error"]["key"] == "customer_not_new", out
    assert _redeem_ref(g, code, "old").json()["key"] == "customer_not_new"
    # the referrer's email behind another customer, given in the request or stored
    out = _check(g, code, {"source_id": "alias", "email": " A@X.io "})
    assert out["redeemables"][0]["result"]["error"]["key"] == "duplicate_referee_contact", out
    # a referee's phone used again by another new customer
    r = g.redeem({"customer": {"source_id": "bob", "phone": "+48 600 100 200"}, "order": {"amount": 5000},
                  "redeemables": [{"object": "voucher", "id": code}]})  # fmt: skip
    assert r.status_code == 200, r.text
    out = _check(g, code, {"source_id": "bob2", "phone": "+48600100200"})
    assert out["redeemables"][0]["result"]["error"]["key"] == "duplicate_referee_contact", out
    # max_referees = 2: the third referee is refused
    assert _redeem_ref(g, code, "carl").status_code == 200
    third = _redeem_ref(g, code, "dora")
    assert third.status_code == 400 and third.json()["key"] == "referral_limit_exceeded", third.text
    assert _balance(srv, club, "alice") == 1000


def test_bad_referral_tiers_are_refused(stack: tuple[AdminServer, InProcess]) -> None:
    srv, _ = stack
    club = club_programme(srv)
    before = srv.request("GET", "/v1/campaigns").json()["total"]
    for rp, needle in (({"referral_tiers": [{"rewards": ["rew_nope"]}]}, "unknown reward"),
                       ({"referral_tiers": [{"rewards": []}]}, "referral_tiers"),
                       ({"referral_tiers": [{"rewards": ["x"], "min_referees": 0}]}, "min_referees"),
                       ({"max_referees": 0}, "max_referees"),
                       ({"new_customers_only": "yes"}, "new_customers_only")):  # fmt: skip
        r = srv.request("POST", "/v1/campaigns", json=_r3(club, **rp))
        assert r.status_code == 400, (rp, r.text)
        assert needle in r.text, (needle, r.text)
    assert srv.request("GET", "/v1/campaigns").json()["total"] == before


def test_a_programme_whose_code_pattern_is_used_up_refuses_a_publication_with_409(
    stack: tuple[AdminServer, InProcess],
) -> None:
    """A fuzz finding: a join-once programme whose code_config has room for two codes gave a 500
    on the third member's publication; it is a 409 ``codes_exhausted`` that changes nothing."""
    from gateway_fixtures import keyspace

    srv, g = stack
    body = _r3(club_programme(srv))
    body["voucher"] = {**body["voucher"], "code_config": {"pattern": "R#", "charset": "AB"}}
    assert srv.request("POST", "/v1/campaigns", json=body).status_code == 200
    first = srv.request("POST", "/v1/publications", json={"campaign": {"name": "Refer a friend"},
                                                           "customer": {"source_id": "alice"}})  # fmt: skip
    assert first.status_code == 200 and first.json()["voucher"]["code"] in ("RA", "RB"), first.text
    assert srv.request("POST", "/v1/publications", json={"campaign": {"name": "Refer a friend"},
                                                          "customer": {"source_id": "carl"}}).status_code == 200  # fmt: skip
    srv.request("POST", "/v1/customers", json={"source_id": "bob"})
    before = keyspace(g.redis, g.prefix)
    second = srv.request("POST", "/v1/publications", json={"campaign": {"name": "Refer a friend"},
                                                            "customer": {"source_id": "bob"}})  # fmt: skip
    assert second.status_code == 409 and second.json()["key"] == "codes_exhausted", second.text
    assert {k for k in keyspace(g.redis, g.prefix) if ":audit" not in k} == {k for k in before if ":audit" not in k}
