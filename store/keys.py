"""Every Redis key promogate uses, named in one place.

``P`` is the key prefix (``PROMOGATE_KEY_PREFIX``, default ``pg:``). A service builds one
:class:`Keys` for its prefix and asks it for names; nothing else spells a key.

Definitions and keys (written by admin, read by every gateway worker):

================================  ==============================================================
``Pdefs``                         the definitions document (JSON of ``core.model.Definitions``)
``Pdefs:version``                 integer, bumped on every accepted change
``Pdefs:changed``                 pub/sub channel: ``<version>``, ``code:<CODE>`` or
                                  ``appkey:<id>`` notices
``Pcodes:<n>``                    hash: codes kept outside the document (generated, imported,
                                  issued codes, loyalty cards), ``n`` = :func:`bucket` of the
                                  code; field = the code, value = its ``core.model.Voucher``
                                  record packed by :func:`store.codebook.pack`, when that is
                                  at most 64 bytes (Redis' compact hash encoding)
``Pcamprefs``                     hash: campaign references of compact code records: ref (8
                                  characters, :func:`store.codebook.campaign_ref` of the id) ->
                                  campaign id
``Pcodes:migrated``               string: set once the codes of the layout before (a key
                                  ``Pcode:<CODE>`` each) were moved into their buckets
``Pcodes:big:<n>``                hash: the same for records packed to more than 64 bytes
                                  (loyalty cards, issued codes, codes with metadata...); ``n`` =
                                  CRC-32 mod :data:`BIG_BUCKETS`
``Pappkey:<id>``                  hash ``{token_sha256, role, name}``: an API key
``Pkeys``                         zset: API key ids by creation time
================================  ==============================================================

Counters (written only by the Lua scripts of :mod:`store.counters`). Core's planner spells the
logical part of these keys when it builds a plan; the spelling is fixed here (:func:`campaign_tag`,
:func:`voucher_counter_keys`, :data:`CAMPAIGN_COUNTERS`) and a unit test checks that the compiled
engine's plans use exactly these names. Every key of one campaign carries the hash tag
``{c:<campaign id>}`` (a code without a campaign: ``{v:<CODE>}``), so that on a Redis Cluster all of
them live in one slot:

======================================  ==========================================================
``P{c:<id>}:uses`` / ``:disc`` /        campaign redemptions, discount given, order value, gift
``:ordval`` / ``:spent``                credits spent (net of rollbacks)
``P{c:<id>}:uses:d:<day>``              campaign redemptions per day (expiring)
``P{c:<id>}:cust:<customer>[...]``      per customer, and per customer per ``:d:`` / ``:w:`` /
                                        ``:m:`` window (expiring)
``P{c:<id>}:v:<CODE>:uses`` /           one code's redemptions, gift credits spent, loyalty points
``:spent`` / ``:points``                spent; ``:c:<customer>`` per customer
``P{c:<id>}:t:<tier id>:uses``          a promotion tier's redemptions
``P<counter>:holds``                    zset: session key -> hold expiry (ms)
``P<counter>:holdamt``                  hash: session key -> amount held; field ``""`` = total
======================================  ==========================================================

Redemptions (written by the gateway's scripts, read by admin's reports):

================================  ==============================================================
``Psess:<session key>``           set of the counter keys (full names) a session holds
``Prd:<redemption id>``           hash: a redemption record (``store.counters.Redemption``)
``Pledger``                       stream: one entry per redeem, rollback or refused redeem
``Pidem:redeem:<key>``            hash ``{fp, resp}``: an idempotent redeem answer (TTL)
``Pidem:rollback:<key>``          hash ``{fp, resp}``: an idempotent rollback answer (TTL)
``Plview:<name>``                 admin's views folded from ``Pledger``: position, per-minute and
                                  per-hour-and-campaign figures, indexes of entry ids
                                  (:mod:`store.ledger_fold`; written by admin only)
================================  ==============================================================

Loyalty card wallets (written only by the Lua scripts of :mod:`store.wallet`; one card = a
loyalty card code in a campaign, every key of it under the campaign's tag, so one slot):

=====================================  ===========================================================
``P{c:<id>}:lc:<CODE>``                hash: the card's figures ``points`` (lifetime total),
                                       ``balance``, ``expired``, ``subtracted`` (transferred
                                       out), ``redeemed`` (net of refunds), ``pending``, ``seq``
                                       (transactions written), ``at`` (last transaction, ms)
``P{c:<id>}:lc:<CODE>:bk``             zset: point buckets, member = score = expiry (ms);
                                       non-expiring points: ``9999999999999``
``P{c:<id>}:lc:<CODE>:bkp``            hash: bucket (expiry) -> points left in it
``P{c:<id>}:lc:<CODE>:pp``             zset: PENDING pending-points ids by activation (ms)
``P{c:<id>}:lc:<CODE>:ppr``            hash: pending-points id -> JSON record (any status)
``P{c:<id>}:lc:<CODE>:tx``             stream: the card's transactions, entry id ``<seq>-0``
                                       (append-only, never trimmed)
``P{c:<id>}:lc:<CODE>:rf``             hash: seq of a refunded debit -> the refund's transaction id
``P{c:<id>}:idem:wallet:<op id>``      hash ``{fp, resp}``: an idempotent wallet call's answer
                                       (scoped by the campaign of the call's first card)
``P{c:<id>}:lc:holder:<customer id>``  string: the card code a customer holds in the program
                                       (join once: set NX in the call that creates the card)
``P{rw:<reward id>}:redeemed``         integer: a reward's units redeemed (net of rollbacks);
                                       stock left = the reward's ``stock`` - this
=====================================  ===========================================================

Orders and live customer metrics (written by the gateway's order / event calls):

=====================================  ===========================================================
``Porder:<id>``                        JSON: an order (Voucherify's shape) and what it earned
``Pcustmetrics:<customer id>``         hash: orders ``count``, ``amount`` (cents, PAID orders),
                                       ``last_order_at`` / ``last_order_amount`` /
                                       ``last_event_at`` (ms), ``events``; per UTC day
                                       (``<day>`` = epoch ms // 86,400,000) ``od:<day>`` orders
                                       and ``oa:<day>`` their amount, counted on the day the
                                       order was paid and taken back on cancel (the dynamic
                                       segments' windowed counts, ``core.segments``)
``Pcustactivity:<customer id>``        stream: the customer's activity (``customer.order.paid``,
                                       ``customer.custom_event``, ...): ``type``, ``data`` (JSON),
                                       ``at`` (ms); about the last 1,000 entries kept
=====================================  ===========================================================

Referral programmes (core.referrals; counted by the redemption's script or the conversion's
wallet call):

=========================================  =======================================================
``P{c:<id>}:referee:<customer key>``       integer: 1 while the customer is a referee of the
                                           programme (counted with limit 1; key = source_id or id)
``P{c:<id>}:referrer:<customer id>``       integer: a referrer's referees counted at checkout
                                           (limit: the programme's ``max_referees``)
``P{c:<id>}:conv:<customer id>``           integer: a referrer's conversions paid (n of the
                                           next one; a conversion counts it only where it finds
                                           n - 1: the tier it pays is exact under concurrency)
``Preferral:<related id>``                 JSON: what a conversion paid (for its rollback)
``Pcustreferrals:<customer id>``           hash: campaign id -> JSON ``referrals.campaigns[]``
                                           entry of a referee
``Pholders:<code>``                        hash: customer id -> JSON ``RedeemableHolder`` of a
                                           referral code's referees (the referrer is the code's
                                           holder)
``Pcontact:{c:<id>}:<sha256>``             string: the customer id that used an email / phone in
                                           the programme (``unique_contacts``)
=========================================  =======================================================

Admin's own records (the gateway reads customers and their codes for segment rules and
qualifications):

================================  ==============================================================
``Padmin:meta``                   JSON ``admin.repo.Meta``: what the admin API shows beside the
                                  definitions (created / updated times, descriptions...); written
                                  in the same transaction as ``Pdefs``
``Padmin:defs_stamp``             random, rewritten with every admin write of ``Pdefs``: with the
                                  version, what admin's definitions cache is keyed on (a version
                                  can repeat when a prefix is wiped; a stamp cannot)
``Padmin:changeset:<id>``         JSON: a change set of approvals (admin/approvals.py): its
                                  calls, diff, status, author and approver
``Padmin:changesets``             zset: change set id -> submission time (ms)
``Padmin:settings:approvals``     JSON ``{"required": bool}``: four-eyes mode on or off
``Pcampcodes:<campaign id>``      list of a campaign's codes kept outside the document
``Pvid:<v_ id>``                  string: the code of a loyalty card's voucher id
``Pcampgone:<campaign id>``       set (ms) in the transaction that deletes the campaign, and
                                  kept: code writers check it atomically, so no code of a deleted
                                  campaign is stored after its deletion's clean-up began
``Paction:<id>``                  hash: an async action (bulk generation, import, delete)
``Pactions``                      zset: async action ids by creation time (ms)
``Pactions:running``              set: async actions to resume if the admin process stopped
``Pcustomer:<id>``                JSON: a customer (Voucherify shape plus ``segments``)
``Pcustomer:src:<source_id>``     string: the customer id of a ``source_id``
``Pcustomers``                    zset: customer ids by creation time (ms)
``Pcustcodes:<customer key>``     set: codes issued to a customer (key = source_id or id)
``Psegment:<id>``                 JSON: a segment: ``static`` (members listed, and each
                                  member's ``segments`` names it) or ``auto-update`` /
                                  ``passive`` (a ``filter`` judged by ``core.segments`` at read
                                  time; no member list)
``Psegments``                     zset: segment ids by creation time
``Paudit``                        stream: the audit trail (append-only)
``Pui:session:<sha256 of id>``    JSON: a web UI session (key id, CSRF token, times), with the
                                  session's TTL; the cookie holds the id, Redis only its hash
``Pui:signin:fail:<kind>:<v>``    integer: failed web UI sign-ins of a key id (``key``, v = its
                                  SHA-256) or a client address (``addr``) in the current window
                                  (expires with the window)
``Pui:bulk:<token>``              JSON: a bulk code action's uploaded codes waiting for their
                                  confirmation (admin/ui/bulk.py), 15 minutes
================================  ==============================================================
"""

from __future__ import annotations

import zlib
from typing import Any, Literal, NamedTuple

__all__ = [
    "BIG_BUCKETS",
    "BUCKETS",
    "CAMPAIGN_COUNTERS",
    "CardKeys",
    "Keys",
    "bucket",
    "campaign_tag",
    "voucher_counter_keys",
    "voucher_tag",
]

#: the live counters of one campaign, after its tag: redemptions, discount given, order value,
#: gift credits spent
CAMPAIGN_COUNTERS = (":uses", ":disc", ":ordval", ":spent")


#: how many hashes the codes kept outside the document are spread over (a power of two); part of
#: the stored layout: changing it moves every code (store/codebook.py)
BUCKETS = 1 << 16
#: the same for records over the compact limit (``Pcodes:big:<n>``): those hashes are in Redis'
#: ordinary encoding whatever their size, so fewer of them cost less
BIG_BUCKETS = 1 << 12


def bucket(code: str) -> int:
    """The bucket of a code kept outside the document: the low bits of its CRC-32 (zlib's, C)."""
    return zlib.crc32(code.encode()) & (BUCKETS - 1)


def campaign_tag(campaign_id: str) -> str:
    """The hash tag every counter key of a campaign starts with."""
    return "{c:" + campaign_id + "}"


def voucher_tag(voucher: Any) -> str:
    """The hash tag of a code's counters: its campaign's, or ``{v:<CODE>}`` for a standalone code."""
    return campaign_tag(voucher.campaign_id) if voucher.campaign_id else "{v:" + voucher.code + "}"


def voucher_counter_keys(voucher: Any) -> tuple[str, str, str]:
    """Logical keys (no prefix) of a code's redemptions, gift credits spent and points spent."""
    base = voucher_tag(voucher) + ":v:" + voucher.code
    return base + ":uses", base + ":spent", base + ":points"


class CardKeys(NamedTuple):
    """The keys of one loyalty card's wallet, in the order the wallet scripts take them."""

    figures: str  # hash: points, balance, expired, subtracted, redeemed, pending, seq, at
    buckets: str  # zset: bucket (expiry ms) by expiry
    bucket_points: str  # hash: bucket -> points left
    pending: str  # zset: PENDING pending-points id by activation ms
    pending_records: str  # hash: pending-points id -> JSON record
    transactions: str  # stream: entry <seq>-0 per transaction
    refunds: str  # hash: refunded debit's seq -> refund transaction id


class Keys:
    """Full key names (prefix included) for one key prefix."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        # definitions and API keys
        self.defs = prefix + "defs"
        self.version = prefix + "defs:version"
        self.channel = prefix + "defs:changed"
        self.keys_index = prefix + "keys"
        self.campaign_refs = prefix + "camprefs"
        self.codes_migrated = prefix + "codes:migrated"
        # redemptions
        self.ledger = prefix + "ledger"
        # admin's records
        self.meta = prefix + "admin:meta"
        self.defs_stamp = prefix + "admin:defs_stamp"
        self.actions = prefix + "actions"
        self.actions_running = prefix + "actions:running"
        self.customers = prefix + "customers"
        self.segments = prefix + "segments"
        self.audit = prefix + "audit"

    # -- definitions and API keys -----------------------------------------------------------

    def code_buckets(self, code: str) -> tuple[str, str]:
        """The two hashes that may hold ``code``'s record (field = the code): the compact one
        (records of at most :data:`store.codebook.COMPACT_MAX` bytes packed) and the large one."""
        h = zlib.crc32(code.encode())
        return (self.prefix + "codes:" + str(h & (BUCKETS - 1)),
                self.prefix + "codes:big:" + str(h & (BIG_BUCKETS - 1)))  # fmt: skip

    def appkey(self, key_id: str) -> str:
        return f"{self.prefix}appkey:{key_id}"

    def ui_session(self, session_id_sha256: str) -> str:
        """A web UI session, by the SHA-256 of the id its cookie holds (admin/ui.py)."""
        return f"{self.prefix}ui:session:{session_id_sha256}"

    def ui_signin_failures(self, kind: Literal["key", "addr"], value: str) -> str:
        """Failed web UI sign-ins of a key id's hash or a client address (admin/ui/signin.py)."""
        return f"{self.prefix}ui:signin:fail:{kind}:{value}"

    def ui_bulk(self, token: str) -> str:
        """A bulk code action's upload waiting for its confirmation (admin/ui/bulk.py)."""
        return f"{self.prefix}ui:bulk:{token}"

    def change_set(self, change_set_id: str) -> str:
        """A change set waiting for (or past) its approval, as JSON (admin/approvals.py)."""
        return f"{self.prefix}admin:changeset:{change_set_id}"

    @property
    def change_sets(self) -> str:
        """zset: change set id -> submission time (ms), the approvals list (admin/approvals.py)."""
        return f"{self.prefix}admin:changesets"

    @property
    def approvals_setting(self) -> str:
        """``{"required": bool}``: whether definition writes need an approved change set."""
        return f"{self.prefix}admin:settings:approvals"

    # -- counters and redemptions -----------------------------------------------------------

    def counter(self, logical: str) -> str:
        """Full name of a logical counter key (as core's plans spell it)."""
        return self.prefix + logical

    def campaign_counters(self, campaign_id: str) -> list[str]:
        """Full names of a campaign's :data:`CAMPAIGN_COUNTERS`, in that order."""
        tag = campaign_tag(campaign_id)
        return [self.prefix + tag + s for s in CAMPAIGN_COUNTERS]

    def record(self, redemption_id: str) -> str:
        return f"{self.prefix}rd:{redemption_id}"

    def ledger_view(self, name: str) -> str:
        """One of admin's views of the ledger (:mod:`store.ledger_fold`)."""
        return f"{self.prefix}lview:{name}"

    @property
    def record_prefix(self) -> str:
        """What :meth:`record` puts before a redemption id (the rollback script builds children's
        keys from it)."""
        return self.prefix + "rd:"

    def session(self, session_key: str) -> str:
        return f"{self.prefix}sess:{session_key}"

    def idempotency(self, kind: Literal["redeem", "rollback"], key: str) -> str:
        return f"{self.prefix}idem:{kind}:{key}"

    # -- loyalty card wallets ---------------------------------------------------------------

    def card(self, campaign_id: str, code: str) -> CardKeys:
        """The keys of loyalty card ``code`` of campaign ``campaign_id``."""
        base = self.prefix + campaign_tag(campaign_id) + ":lc:" + code
        return CardKeys(base, base + ":bk", base + ":bkp", base + ":pp", base + ":ppr", base + ":tx",
                        base + ":rf")  # fmt: skip

    def card_holder(self, campaign_id: str, customer_id: str) -> str:
        """The code of the card ``customer_id`` holds in program ``campaign_id``."""
        return self.prefix + campaign_tag(campaign_id) + ":lc:holder:" + customer_id

    def reward_redeemed(self, reward_id: str) -> str:
        """Units of reward ``reward_id`` redeemed (its stock counter)."""
        return self.prefix + "{rw:" + reward_id + "}:redeemed"

    # -- orders and customer metrics --------------------------------------------------------

    def order(self, order_id: str) -> str:
        return f"{self.prefix}order:{order_id}"

    def customer_activity(self, customer_id: str) -> str:
        return f"{self.prefix}custactivity:{customer_id}"

    def customer_metrics(self, customer_id: str) -> str:
        return f"{self.prefix}custmetrics:{customer_id}"

    def referral(self, related_id: str) -> str:
        return f"{self.prefix}referral:{related_id}"

    def customer_referrals(self, customer_id: str) -> str:
        return f"{self.prefix}custreferrals:{customer_id}"

    def holders(self, code: str) -> str:
        return f"{self.prefix}holders:{code}"

    def contact(self, campaign_id: str, digest: str) -> str:
        return f"{self.prefix}contact:{campaign_tag(campaign_id)}:{digest}"

    def wallet_idempotency(self, campaign_id: str, op_id: str) -> str:
        """An idempotent wallet call's stored answer, under the tag of ``campaign_id``."""
        return self.prefix + campaign_tag(campaign_id) + ":idem:wallet:" + op_id

    # -- admin's records --------------------------------------------------------------------

    def voucher_id(self, voucher_id: str) -> str:
        return f"{self.prefix}vid:{voucher_id}"

    def list_codes(self, campaign_id: str) -> str:
        return f"{self.prefix}campcodes:{campaign_id}"

    def campaign_gone(self, campaign_id: str) -> str:
        return f"{self.prefix}campgone:{campaign_id}"

    def action(self, action_id: str) -> str:
        return f"{self.prefix}action:{action_id}"

    def customer(self, customer_id: str) -> str:
        return f"{self.prefix}customer:{customer_id}"

    def customer_src(self, source_id: str) -> str:
        return f"{self.prefix}customer:src:{source_id}"

    def customer_codes(self, customer_key: str) -> str:
        return f"{self.prefix}custcodes:{customer_key}"

    def segment(self, segment_id: str) -> str:
        return f"{self.prefix}segment:{segment_id}"
