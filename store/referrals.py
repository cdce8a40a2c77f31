"""Referral programmes at run time: conversions, their rollback, holders, the customer summary.

A referral converts when a referee redeems the code (``conversion_event_type: redemption``) or
when the custom event the programme names is tracked with ``referral{code}``. Core decides,
Lua counts (DESIGN.md "Wallet programs"):

- at checkout, the redemption of a referral code counts the referee once per programme and the
  referrer within the programme's ``max_referees`` in the redemption's own atomic call
  (``core._engine``: ``customer_already_referred`` / ``referral_limit_exceeded``); the event
  path counts the same two counters in its conversion call;
- the conversion is ONE wallet call, idempotent on ``referral:<campaign>:<related id>`` (the
  redemption or the event): the referee reward (points on the referee's card of the named
  loyalty programme, joined if need be, or a gift card), the referrer's rewards for its n-th
  referee (``core.referrals.referrer_rewards``: the rewards assigned to the campaign, chosen by
  its tiers), the referee's ``referrals`` entry, its REFEREE holder row, activity, and a record
  of what was paid. ``n`` is exact under concurrency: the call counts the referrer's
  conversions with limit ``n`` (it applies only where it finds ``n - 1``; otherwise it is
  planned again on the count it found);
- rolling back the referee's redemption takes back what its conversion paid, once: points
  removed (clamped at a zero balance, as earned points are), issued codes revoked, the
  conversion uncounted.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any

import msgspec
import orjson

from core import model as m
from core.referrals import referrer_rewards

from .errors import ApiError
from .keys import campaign_tag
from .members import iso_ms
from .wallet import Debit

if TYPE_CHECKING:
    from .loyalty import Catalog, Given, Loyalty

__all__ = ["Referrals", "referee_key", "screen"]

#: how often a conversion is planned again after another one took its ``n``
MAX_ATTEMPTS = 200

_TITLES = {
    "customer_already_referred": "Customer already referred",
    "referral_limit_exceeded": "Referral limit exceeded",
    "customer_not_new": "Customer not new",
    "duplicate_referee_contact": "Duplicate referee contact",
    "referrer_not_permitted_to_redeem": "Referrer not permitted to redeem",
}


def refused(key: str, details: str) -> ApiError:
    return ApiError(400, key, _TITLES.get(key, key), details)


def referee_key(campaign_id: str, customer: dict[str, Any]) -> str:
    """The referee counter of a customer in a programme (logical key, as core spells it: the
    customer's ``source_id`` first, as every per-customer limit)."""
    return campaign_tag(campaign_id) + ":referee:" + (customer.get("source_id") or customer["id"])


def referrer_key(campaign_id: str, referrer_id: str) -> str:
    return campaign_tag(campaign_id) + ":referrer:" + referrer_id


def conversions_key(campaign_id: str, referrer_id: str) -> str:
    return campaign_tag(campaign_id) + ":conv:" + referrer_id


def _contacts(c: dict[str, Any]) -> list[str]:
    """A customer's email and phone, normalised and hashed (what ``unique_contacts`` compares)."""
    out = []
    email = c.get("email")
    if isinstance(email, str) and email.strip():
        out.append("e:" + email.strip().lower())
    phone = c.get("phone")
    if isinstance(phone, str):
        digits = "".join(ch for ch in phone if ch.isdigit())
        if digits:
            out.append("p:" + digits)
    return [hashlib.sha256(x.encode()).hexdigest()[:32] for x in out]


async def screen(lo: Loyalty, camp: m.Campaign, referrer_id: str, referee: dict[str, Any],
                 orders_before: int) -> str | None:  # fmt: skip
    """The abuse a programme asks to refuse, judged for ``referee`` (a stored customer) and
    the code's holder: the error key, or None. ``max_referees`` and "referred once" are
    counted atomically elsewhere; these two are judged on what is stored when asked."""
    rp = camp.referral_program
    if rp is None:
        return None
    if referee["id"] == referrer_id:
        return "referrer_not_permitted_to_redeem"
    if rp.new_customers_only and orders_before > 0:
        return "customer_not_new"
    if rp.unique_contacts:
        mine = _contacts(referee)
        if mine:
            referrer = await lo.members.customer(m.Customer(id=referrer_id), 0, create=False)
            if referrer is not None and set(mine) & set(_contacts(referrer)):
                return "duplicate_referee_contact"
            owners = await lo.pipe.execute_command(
                "MGET", *(lo.k.contact(camp.id, d) for d in mine)
            )
            if any(o is not None and o.decode() != referee["id"] for o in owners):
                return "duplicate_referee_contact"
    return None


class Referrals:
    """Referral conversions of one :class:`store.loyalty.Loyalty` (its keys and wallet)."""

    def __init__(self, lo: Loyalty) -> None:
        self.lo = lo
        self.k = lo.k

    # -- conversion ------------------------------------------------------------------------

    async def convert(self, cat: Catalog, camp: m.Campaign, code: str, referrer_id: str,
                      referee: dict[str, Any], related: tuple[str, str], now_ms: int, *,
                      count: bool) -> dict[str, Any]:  # fmt: skip
        """Convert the referral of ``referee`` (a stored customer) on ``code`` of ``camp``,
        held by ``referrer_id``; ``related``: (id, type) of the redemption or event that
        converts it. ``count``: the call counts the referee and the referrer itself (the event
        path; a redemption counted them at checkout). Returns the record of what was paid (the
        first one on a repeat); ApiError 400 when the referral is refused."""
        rel_id, rel_type = related
        cur = await self.lo.pipe.execute_command("GET", self.k.counter(conversions_key(camp.id, referrer_id)))
        n = int(cur or 0) + 1
        # what does not change between attempts is read once: the referrer, the assigned rewards
        referrer = await self.lo.members.customer(m.Customer(id=referrer_id), now_ms, create=False)
        assigned = [a.reward_id for a in cat.assignments.values() if a.campaign_id == camp.id]
        for _ in range(MAX_ATTEMPTS):
            plan = await self._plan(cat, camp, code, referrer_id, referrer, assigned, referee, related,
                                    now_ms, n, count)  # fmt: skip
            res = await self.lo.wallet.apply(
                plan["ops"], now_ms, op_id=f"referral:{camp.id}:{rel_id}", fingerprint="convert",
                limits=plan["limits"], writes=plan["writes"], scope=camp.id,
            )
            if res.status in ("ok", "replay"):
                if res.status == "replay":
                    raw = await self.lo.pipe.execute_command("GET", self.k.referral(rel_id))
                    return orjson.loads(raw) if raw else plan["record"]
                return plan["record"]
            if res.status == "conflict":  # pragma: no cover - the fingerprint is constant
                raise ApiError(409, "duplicate_found", "Conflict", "conversion replayed differently")
            f = res.failure
            assert f is not None
            if f.kind == "write":  # a random reward code was taken meanwhile: draw again
                continue
            if f.kind == "limit" and f.error == "referral_conversion_taken":
                n = f.available + 1  # another conversion took n: plan on the count found
                continue
            if f.kind == "limit":
                what = (
                    "the customer was referred in this programme before"
                    if f.error == "customer_already_referred"
                    else "the referrer has reached the programme's limit of referees"
                )
                raise refused(f.error, what)
            raise ApiError(400, f.error, f.error.replace("_", " ").capitalize(), f.error)
        raise ApiError(409, "multiple_requests", "Too many concurrent changes",
                       "Please retry: the referrer's conversions kept changing")  # fmt: skip

    async def _plan(self, cat: Catalog, camp: m.Campaign, code: str, referrer_id: str,
                    referrer: dict[str, Any] | None, assigned: list[str], referee: dict[str, Any],
                    related: tuple[str, str], now_ms: int, n: int, count: bool) -> dict[str, Any]:  # fmt: skip
        rel_id, rel_type = related
        rp = camp.referral_program
        lo = self.lo
        ops: list[Any] = []
        writes: list[Any] = []
        paid: list[dict[str, Any]] = []  # what was given, for the record and the rollback
        ref = {"campaign_id": camp.id, "code": code, "referrer_id": referrer_id,
               "referee_id": referee["id"], "related_object_id": rel_id,
               "related_object_type": rel_type}  # fmt: skip
        details = orjson.dumps({"referral": ref})
        # the referee's reward (double-sided programmes)
        rr = rp.referee_reward if rp is not None else None
        if rr is not None:
            parent = cat.campaign(rr.related_object_parent.id)
            if parent is not None:
                fake = m.Reward(id="referee_reward", name="referee reward", type="CAMPAIGN",
                                parameters=m.RewardParameters(campaign=m.RewardCampaign(
                                    id=parent.id, balance=int(rr.amount))))  # fmt: skip
                given = await lo.give(fake, parent, referee, details, now_ms, reason="referee reward")
                paid.append(self._paid("referee", None, fake, given))
                ops += given.ops
                writes += given.writes
        # the referrer's rewards for its n-th referee
        tiers: list[str] = []
        for tier_id, rid in referrer_rewards(rp, assigned, n):
            r = cat.rewards.get(rid)
            if r is None or referrer is None:
                continue
            if tier_id:
                tiers.append(tier_id)
            target = cat.campaign(r.parameters.campaign.id) if r.parameters.campaign is not None else None
            if target is not None:
                # a referrer most likely holds its card of the programme already
                given = await lo.give(r, target, referrer, details, now_ms, reason="referral reward",
                                      held=True)  # fmt: skip
                ops += given.ops
                writes += given.writes
            else:  # a MATERIAL reward: recorded, delivered by the shop
                given = None
            paid.append(self._paid("referrer", tier_id, r, given))
        # counted: the referrer's conversions (n exact), and on the event path the referee once
        # and the referrer within max_referees
        limits: list[Any] = [(conversions_key(camp.id, referrer_id), 1, n, "referral_conversion_taken", 0, 0)]
        if count:
            limits.append((referee_key(camp.id, referee), 1, 1, "customer_already_referred", 0, 0))
            limit = rp.max_referees if rp is not None and rp.max_referees is not None else -1
            limits.append((referrer_key(camp.id, referrer_id), 1, limit, "referral_limit_exceeded", 0, 0))
        date = iso_ms(now_ms)
        entry = {"campaign_id": camp.id, "referrer_id": referrer_id, "related_object_id": rel_id,
                 "related_object_type": rel_type, "date": date}  # fmt: skip
        holder = {"id": "rh_" + hashlib.sha256(f"{code}:{referee['id']}".encode()).hexdigest()[:24],
                  "created_at": date, "redeemable_id": code, "redeemable_object": "voucher",
                  "customer_id": referee["id"], "holder_role": "REFEREE", "campaign_id": camp.id,
                  "campaign_type": "REFERRAL_PROGRAM", "voucher_type": "DISCOUNT_VOUCHER",
                  "metadata": {}, "object": "redeemable_holder"}  # fmt: skip
        contacts = _contacts(referee) if rp is not None and rp.unique_contacts else []
        record = {**ref, "n": n, "tiers": tiers, "paid": paid, "count": count,
                  "referee_key": referee_key(camp.id, referee), "contacts": contacts, "date": date}  # fmt: skip
        writes += [("hset", self.k.customer_referrals(referee["id"]), camp.id, orjson.dumps(entry)),
                   ("hset", self.k.holders(code), referee["id"], orjson.dumps(holder))]  # fmt: skip
        writes += [("set", self.k.contact(camp.id, d), referee["id"]) for d in contacts]
        writes.append(("xadd", self.k.customer_activity(referee["id"]), "customer.referred",
                       orjson.dumps({"referral": ref})))  # fmt: skip
        for p in paid:
            if p["to"] != "referrer":
                continue
            body = {"referral": ref, "reward": p["reward"], "voucher": p.get("voucher"),
                    "referral_tier": {"id": p["tier"], "campaign_id": camp.id} if p["tier"] else None}  # fmt: skip
            writes.append(("xadd", self.k.customer_activity(referrer_id), "customer.rewarded", orjson.dumps(body)))
            if p.get("points"):
                writes.append(("xadd", self.k.customer_activity(referrer_id), "customer.rewarded.loyalty_points",
                               orjson.dumps({**body, "points": p["points"][2]})))  # fmt: skip
        writes.append(("set", self.k.referral(rel_id), orjson.dumps(record)))
        return {"ops": ops, "limits": limits, "writes": writes, "record": record}

    @staticmethod
    def _paid(to: str, tier: str | None, r: m.Reward, given: Given | None) -> dict[str, Any]:
        out: dict[str, Any] = {"to": to, "tier": tier, "reward": {"id": r.id, "name": r.name}}
        if given is not None:
            out["voucher"] = given.issued
            if given.points is not None:
                out["points"] = list(given.points)
            if given.code is not None:
                out["code"] = msgspec.to_builtins(given.code)
        return out

    # -- rollback ----------------------------------------------------------------------------

    async def cancel(self, related_id: str, now_ms: int) -> bool:
        """Take back what the conversion of ``related_id`` (a rolled-back redemption) paid, once:
        points removed (clamped at a zero balance), issued codes revoked, its referee entry and
        holder row gone, the referrer's conversions uncounted. False: it converted nothing."""
        from .loyalty import IssuedCode

        raw = await self.lo.pipe.execute_command("GET", self.k.referral(related_id))
        if raw is None:
            return False
        rec = orjson.loads(raw)
        camp_id, referrer_id, referee_id = rec["campaign_id"], rec["referrer_id"], rec["referee_id"]
        ref = {k: rec.get(k) for k in ("campaign_id", "code", "referrer_id", "referee_id",
                                       "related_object_id", "related_object_type")}  # fmt: skip
        details = orjson.dumps({"referral": ref})
        ops: list[Any] = []
        writes: list[Any] = []
        for p in rec.get("paid") or []:
            if p.get("points"):
                c, code, pts = p["points"]
                ops.append(Debit(campaign_id=c, code=code, points=int(pts), type="POINTS_REMOVAL", mode="clamp",
                                 reason="referral rolled back", source_id=related_id, details=details))  # fmt: skip
            if p.get("code"):
                writes += self.lo.revoke(msgspec.convert(p["code"], IssuedCode))
        writes.append(("incr", self.k.counter(conversions_key(camp_id, referrer_id)), -1))
        if rec.get("count"):
            writes += [("incr", self.k.counter(rec["referee_key"]), -1),
                       ("incr", self.k.counter(referrer_key(camp_id, referrer_id)), -1)]  # fmt: skip
        writes += [("hdel", self.k.customer_referrals(referee_id), camp_id),
                   ("hdel", self.k.holders(rec["code"]), referee_id),
                   ("del", self.k.referral(related_id))]  # fmt: skip
        writes += [("del", self.k.contact(camp_id, d)) for d in rec.get("contacts") or []]
        writes.append(("xadd", self.k.customer_activity(referee_id), "customer.holder.assignment.deleted",
                       orjson.dumps({"referral": ref})))  # fmt: skip
        await self.lo.wallet.apply(ops, now_ms, op_id=f"referral:{camp_id}:{related_id}:cancel",
                                   fingerprint="cancel", writes=writes, scope=camp_id)  # fmt: skip
        return True

    # -- reads -------------------------------------------------------------------------------

    async def summary(self, cat: Catalog, customer: dict[str, Any]) -> tuple[dict[str, Any], dict[str, int]]:
        """The customer's ``referrals`` (as a referee) and referred customers per referral
        campaign (as a referrer: conversions counted)."""
        camps = [c for c in cat.campaigns.values() if c.campaign_type == "REFERRAL_PROGRAM"]
        camps = list({c.id: c for c in camps}.values())
        lo = self.lo
        raw = await lo.pipe.execute_command("HGETALL", self.k.customer_referrals(customer["id"]))
        flat = list(raw.items()) if isinstance(raw, dict) else list(zip(raw[::2], raw[1::2], strict=True))
        entries = sorted((orjson.loads(v) for _, v in flat), key=lambda e: e.get("date") or "")
        counts: dict[str, int] = {}
        if camps:
            vals = await lo.pipe.execute_command(
                "MGET", *(self.k.counter(conversions_key(c.id, customer["id"])) for c in camps)
            )
            counts = {c.name: max(0, int(v or 0)) for c, v in zip(camps, vals, strict=True)}
        return {"total": len(entries), "campaigns": entries}, counts
