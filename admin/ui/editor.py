"""Create / edit a campaign on one page, every section checked by the server.

The form becomes the API calls it would make (:func:`campaign_ops`: create the campaign, create
or update its validation rule set and assign it), and "Check" dry-runs exactly those calls
through admin's own routes (:func:`admin.drafts.run`: the caller's role check, the same
parsing, validation and compilation, nothing written). A refusal names the field (``... - at
`campaign.voucher.discount.amount_off```); :func:`field_of` maps that path to the form field
and the page shows the message beside it. No rule lives only in the browser: the page's own
parsing is limited to turning "12.50" into cents and JSON text into JSON.

A call may use the id an earlier call of the same change returns: ``$changes[0].id`` in its
path or body stands for it (a new campaign's rule set is assigned to the campaign the first call
creates). :func:`admin.drafts.run` and :func:`admin.drafts.apply` resolve it call by call, as
for any draft, so the preview and approvals' change sets carry such a change too.

New campaigns are created disabled: the create call carries ``active: false`` (the API takes it
on ``POST /v1/campaigns``), so nothing reaches checkouts before someone enables it. With codes
to generate, saving lands on the generation's progress page.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from decimal import Decimal, InvalidOperation
from typing import Any

import msgspec
from litestar import Request, Response, get, post
from litestar.params import FromPath
from litestar.response import Redirect

from core import model as m
from store.codemaker import CodeConfigError, check_config

from .. import approvals, drafts
from ..app import Ctx
from ..drafts import Op
from ..errors import ApiError
from ..repo import CampaignMeta, State
from .audit import diff
from .base import SECURITY_HEADERS, Signed, _enter, _page, _posted
from .editor_rules import (
    FieldError,
    builder_rules,
    cents,
    drawable,
    rule_sentences,
    units,
)

TYPES = (
    ("DISCOUNT_COUPONS", "Coupons (codes)"),
    ("PROMOTION", "Promotion (no code, applied to carts)"),
    ("GIFT_VOUCHERS", "Gift cards"),
)
TYPE_NAMES = tuple(t for t, _ in TYPES)
EFFECTS = m.DiscountEffect.__args__  # type: ignore[attr-defined]
#: campaign limits: (key, label, money)
LIMITS = (
    ("redemptions", "Redemptions in total", False),
    ("redemptions_per_day", "Redemptions per day", False),
    ("per_customer", "Redemptions per customer", False),
    ("per_customer_per_day", "Per customer per day", False),
    ("discounted_amount", "Discount budget", True),
    ("order_value", "Order value budget", True),
)
DAYS = ("Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday")
CODE_FIELDS = ("pattern", "prefix", "postfix", "length", "charset")
RULE_KEYS = ("rules", "applicable_to", "error", "context_type")
AT = re.compile(r" - at `([^`]+)`")
NAMED = re.compile(r"`([a-z_.]+)`")
STEP = re.compile(r"^changes\[\d+\] \([A-Z]+ [^)]*\): ")


class FormErrors(Exception):
    """Form values the server could not even turn into API input: ``{field: message}``."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("form errors")
        self.errors = errors


class Current(msgspec.Struct):
    """The campaign being edited, as published: its definition, metadata and rule sets."""

    camp: m.Campaign
    meta: CampaignMeta | None
    rule: m.ValidationRule | None
    others: list[m.ValidationRule]
    codes: int = 0


# ------------------------------------------------------------------------------- reading the form


class Reader:
    """Reads the form's strings, recording what cannot be read beside its field."""

    def __init__(self, form: dict[str, str]) -> None:
        self.form = form
        self.errors: dict[str, str] = {}

    def text(self, name: str) -> str:
        return self.form.get(name, "").strip()

    def whole(self, name: str) -> int | None:
        raw = self.text(name).replace(",", "")
        if not raw:
            return None
        try:
            return int(raw)
        except ValueError:
            self.errors[name] = f"“{raw[:40]}” is not a whole number"
            return None

    def number(self, name: str) -> int | float | None:
        raw = self.text(name)
        if not raw:
            return None
        try:
            d = Decimal(raw)
        except InvalidOperation:
            self.errors[name] = f"“{raw[:40]}” is not a number"
            return None
        if not d.is_finite() or d.adjusted() > 15:
            self.errors[name] = "this number is out of range"
            return None
        return int(d) if d == d.to_integral_value() else float(d)

    def money(self, name: str) -> int | None:
        try:
            return cents(self.text(name), name)
        except FieldError as exc:
            self.errors[name] = exc.message
            return None

    def when(self, name: str) -> str | None:
        """A ``datetime-local`` value (UTC) as the API's ISO time."""
        raw = self.text(name)
        if not raw:
            return None
        try:
            t = dt.datetime.fromisoformat(raw)
        except ValueError:
            self.errors[name] = f"“{raw[:40]}” is not a date and time"
            return None
        if t.tzinfo is not None:
            t = t.astimezone(dt.UTC).replace(tzinfo=None)
        return t.isoformat(timespec="seconds") + "Z"

    def json_object(self, name: str) -> dict[str, Any] | None:
        raw = self.text(name)
        if not raw:
            return None
        try:
            v = json.loads(raw)
        except ValueError as exc:
            self.errors[name] = f"not valid JSON: {exc}"
            return None
        if not isinstance(v, dict):
            self.errors[name] = "must be a JSON object ({...})"
            return None
        return v


def _set(out: dict[str, Any], key: str, value: Any) -> None:
    if value not in (None, "", [], {}):
        out[key] = value


def _discount(rd: Reader) -> dict[str, Any]:
    d: dict[str, Any] = {"type": rd.text("discount_type") or "AMOUNT"}
    _set(d, "effect", rd.text("discount_effect"))
    _set(d, "amount_off", rd.money("discount_amount_off"))
    _set(d, "percent_off", rd.number("discount_percent_off"))
    _set(d, "amount_limit", rd.money("discount_amount_limit"))
    _set(d, "fixed_amount", rd.money("discount_fixed_amount"))
    _set(d, "unit_off", rd.whole("discount_unit_off"))
    _set(d, "unit_type", rd.text("discount_unit_type"))
    return d


def _voucher(rd: Reader, ctype: str) -> dict[str, Any]:
    v: dict[str, Any] = {"type": "GIFT_VOUCHER" if ctype == "GIFT_VOUCHERS" else "DISCOUNT_VOUCHER"}
    if ctype == "GIFT_VOUCHERS":
        v["gift"] = {"amount": rd.money("gift_amount")}
    else:
        v["discount"] = _discount(rd)
    red: dict[str, Any] = {}
    _set(red, "quantity", rd.whole("redemption_quantity"))
    _set(red, "per_customer", rd.whole("redemption_per_customer"))
    _set(v, "redemption", red)
    _set(v, "code_config", _code_config(rd))
    return v


def _code_config(rd: Reader) -> dict[str, Any]:
    cfg: dict[str, Any] = {}
    for k in CODE_FIELDS:
        _set(cfg, k, rd.whole("code_length") if k == "length" else rd.form.get("code_" + k, ""))
    return cfg


def campaign_body(rd: Reader) -> dict[str, Any]:
    """The ``POST /v1/campaigns`` body the form describes (without ``active``)."""
    ctype = rd.text("campaign_type") or "DISCOUNT_COUPONS"
    body: dict[str, Any] = {"name": rd.text("name"), "campaign_type": ctype}
    _set(body, "description", rd.text("description"))
    _set(body, "category", rd.text("category"))
    _set(body, "metadata", rd.json_object("metadata"))
    _set(body, "start_date", rd.when("start_date"))
    _set(body, "expiration_date", rd.when("expiration_date"))
    frame: dict[str, Any] = {}
    _set(frame, "interval", rd.text("timeframe_interval"))
    _set(frame, "duration", rd.text("timeframe_duration"))
    _set(body, "validity_timeframe", frame)
    _set(body, "validity_day_of_week", [i for i in range(7) if rd.form.get(f"dow_{i}")])
    limits: dict[str, Any] = {}
    for key, _label, money in LIMITS:
        _set(limits, key, (rd.money if money else rd.whole)("limit_" + key))
    _set(body, "limits", limits)
    if ctype == "PROMOTION":
        tier = {"name": body["name"], "action": {"discount": _discount(rd)}}
        body["promotion"] = {"tiers": [tier]}
    else:
        body["voucher"] = _voucher(rd, ctype)
        _set(body, "vouchers_count", rd.whole("vouchers_count"))
    return body


def rule_body(rd: Reader) -> dict[str, Any]:
    """The rule set the form describes (``rules`` / ``applicable_to`` / ``error``; empty: none),
    from the builder's fields or the JSON editor, whichever the page shows."""
    if rd.text("rules_mode") != "json":
        try:
            return builder_rules(rd.form)
        except FieldError as exc:
            rd.errors[exc.field] = exc.message
            return {}
    got = rd.json_object("rules_json") or {}
    extra = sorted(set(got) - set(RULE_KEYS))
    if extra:
        rd.errors["rules_json"] = (f"`{extra[0]}` is not part of a rule set: it holds "
                                   + ", ".join(f"`{k}`" for k in RULE_KEYS))  # fmt: skip
    return got


# ------------------------------------------------------------------------------- the form from a campaign


def _stamp(d: dt.datetime | None) -> str:
    return "" if d is None else d.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M")


def _amount(v: Any) -> str:
    return units(v) if isinstance(v, int) else ""


def _plain(v: Any) -> str:
    if isinstance(v, float) and v.is_integer():
        v = int(v)
    return "" if v is None else str(v)


def _discount_form(d: m.Discount | None) -> dict[str, str]:
    if d is None:
        return {}
    return {"discount_type": d.type, "discount_effect": d.effect or "",
            "discount_amount_off": _amount(d.amount_off),
            "discount_percent_off": _plain(d.percent_off),
            "discount_amount_limit": _amount(d.amount_limit),
            "discount_fixed_amount": _amount(d.fixed_amount),
            "discount_unit_off": _plain(d.unit_off),
            "discount_unit_type": d.unit_type or ""}  # fmt: skip


def rule_dict(r: m.ValidationRule | None) -> dict[str, Any]:
    """A rule set as the editor holds it: the API's rule body without id and name."""
    if r is None:
        return {}
    out = msgspec.to_builtins(r)
    return {k: out[k] for k in RULE_KEYS if out.get(k) not in (None, {}, "")}


def _rules_form(rule: dict[str, Any], name: str, rule_id: str) -> dict[str, str]:
    fields = drawable(rule)
    out = {"rule_name": name, "rule_id": rule_id,
           "rules_json": json.dumps(rule, indent=2) if rule else ""}  # fmt: skip
    if fields is None:
        return out | {"rules_mode": "json"}
    return out | fields | {"rules_mode": "builder"}


def form_of(cur: Current) -> dict[str, str]:
    """The form showing ``cur`` as it is (what an untouched edit page posts back)."""
    c, meta = cur.camp, cur.meta
    f: dict[str, str] = {"name": c.name, "campaign_type": c.campaign_type,
                         "description": (meta.description if meta else None) or "",
                         "category": c.category or "",
                         "metadata": json.dumps(c.metadata, indent=2) if c.metadata else "",
                         "start_date": _stamp(c.start_date),
                         "expiration_date": _stamp(c.expiration_date)}  # fmt: skip
    if c.validity_timeframe is not None:
        f["timeframe_interval"] = c.validity_timeframe.interval
        f["timeframe_duration"] = c.validity_timeframe.duration
    f |= {f"dow_{i}": "1" for i in c.validity_day_of_week}
    for key, _label, money in LIMITS:
        v = getattr(c.limits, key)
        f["limit_" + key] = _amount(v) if money else _plain(v)
    tpl = c.voucher
    if c.promotion is not None and c.promotion.tiers:
        f |= _discount_form(c.promotion.tiers[0].action.discount)
    if tpl is not None:
        f |= _discount_form(tpl.discount)
        f["gift_amount"] = _amount(tpl.gift.amount) if tpl.gift else ""
        f["redemption_quantity"] = _plain(tpl.redemption.quantity)
        f["redemption_per_customer"] = _plain(tpl.redemption.per_customer)
        cfg = tpl.code_config or m.CodeConfig()
        f |= {"code_" + k: _plain(getattr(cfg, k)) for k in CODE_FIELDS}
    f["vouchers_count"] = _plain(meta.vouchers_count if meta and meta.vouchers_count else None)
    rid = cur.rule.id if cur.rule else ""
    return f | _rules_form(rule_dict(cur.rule), cur.rule.name if cur.rule else "", rid)


def new_form() -> dict[str, str]:
    return {"campaign_type": "DISCOUNT_COUPONS", "discount_type": "AMOUNT", "rules_mode": "builder",
            "code_length": "8", "code_charset": m.CodeConfig().charset}  # fmt: skip


def _current(st: State, campaign_id: str) -> Current:
    from ..routes_defs import CAMPAIGN

    camp = CAMPAIGN.get(st, campaign_id)  # 404 not_found
    rules = [r for r in (st.rule(i) for i in camp.validation_rules) if r is not None]
    return Current(camp=camp, meta=st.meta.campaigns.get(camp.id),
                   rule=rules[0] if rules else None, others=rules[1:])  # fmt: skip


async def _loaded(ctx: Ctx, campaign_id: str | None) -> Current | None:
    """The campaign being edited with its code count (None: a new one)."""
    if not campaign_id:
        return None
    st = await ctx.repo.state()
    cur = _current(st, campaign_id)
    cur.codes = int(await ctx.r.llen(ctx.k.list_codes(cur.camp.id))) + sum(
        1 for v in st.defs.vouchers if v.campaign_id == cur.camp.id
    )
    return cur


# ------------------------------------------------------------------------------- the API calls


def _rule_ops(rd: Reader, cur: Current | None, first: int, owner: str) -> list[Op]:
    """The calls that give the campaign the form's rule set: create and assign it, or update
    the one it has (``first``: the index the first of them will have in the change)."""
    rule = rule_body(rd)
    name = rd.text("rule_name") or f"{rd.text('name')} rules"
    had = rule_dict(cur.rule) if cur and cur.rule else {}
    if cur is not None and cur.rule is not None:
        if not rule:
            rd.errors["rules_json" if rd.text("rules_mode") == "json" else "rules"] = (
                f"Emptying the rule set would unassign {cur.rule.id}: delete its assignment "
                "with DELETE /v1/validation-rules/{id}/assignments/{assignment_id}"
            )
            return []
        if rule == had and name == cur.rule.name:
            return []
        return [Op("PUT", f"/v1/validation-rules/{cur.rule.id}", {"name": name, **rule})]
    if not rule:
        return []
    assign = {"related_object_type": "campaign", "related_object_id": owner}
    return [Op("POST", "/v1/validation-rules", {"name": name, **rule}),
            Op("POST", f"/v1/validation-rules/$changes[{first}].id/assignments", assign)]  # fmt: skip


def _update_body(cur: Current, new: dict[str, Any], rd: Reader) -> dict[str, Any]:
    """``PUT /v1/campaigns/{id}``: only the fields the form changed."""
    old = campaign_body(Reader(form_of(cur)))
    out: dict[str, Any] = {}
    for k in sorted((set(old) | set(new)) - {"campaign_type", "vouchers_count", "promotion"}):
        if old.get(k) == new.get(k):
            continue
        if k == "voucher":
            out[k] = {s: v for s, v in new[k].items() if (old.get(k) or {}).get(s) != v}
        elif k in new:
            out[k] = new[k]
        elif k == "metadata":
            out["unset_metadata_fields"] = sorted(old[k])
        elif k in ("limits", "validity_day_of_week", "description"):
            out[k] = {} if k == "limits" else [] if k == "validity_day_of_week" else ""
        else:
            field = {"validity_timeframe": "timeframe_interval"}.get(k, k)
            rd.errors[field] = "The API keeps this once set (an update cannot remove it): set another value"
    if "metadata" in out and "metadata" in old:
        gone = sorted(set(old["metadata"]) - set(out["metadata"]))
        _set(out, "unset_metadata_fields", gone)
    return out


def _typed(form: dict[str, str], cur: Current | None) -> dict[str, str]:
    """An edit's type is the campaign's, whatever the form says."""
    return form if cur is None else form | {"campaign_type": cur.camp.campaign_type}


def campaign_ops(form: dict[str, str], cur: Current | None = None) -> list[Op]:
    """The API calls the form stands for: a new campaign (disabled) with its rule set, or the
    edit of ``cur`` (only what changed). Both saving and approvals' change sets use this.
    Raises :class:`FormErrors` for values the server could not read."""
    rd = Reader(_typed(form, cur))
    body = campaign_body(rd)
    if cur is None:
        ops = [Op("POST", "/v1/campaigns", {**body, "active": False})]
        ops += _rule_ops(rd, None, 1, "$changes[0].id")
    else:
        ops = []
        upd = _update_body(cur, body, rd)
        if upd:
            ops.append(Op("PUT", f"/v1/campaigns/{cur.camp.id}", upd))
        tiers = cur.camp.promotion.tiers if cur.camp.promotion else []
        if tiers and "promotion" in body:
            new = body["promotion"]["tiers"][0]["action"]
            if msgspec.to_builtins(tiers[0].action) != new:
                ops.append(Op("PUT", f"/v1/promotions/tiers/{tiers[0].id}", {"action": new}))
        ops += _rule_ops(rd, cur, len(ops), cur.camp.id)
    if rd.errors:
        raise FormErrors(rd.errors)
    return ops


# ------------------------------------------------------------------------------- errors beside fields

#: API paths (after the object's root) and the form field that holds them; first match wins
_FIELDS = (
    (r"voucher\.discount\.(\w+)", "discount_{0}"),
    (r"promotion\.tiers\[[^\]]*\]\.action\.discount\.(\w+)", "discount_{0}"),
    (r"action\.discount\.(\w+)", "discount_{0}"),
    (r"(?:voucher\.|promotion\.tiers\[[^\]]*\]\.)?(?:action\.)?discount$", "discount_type"),
    (r"voucher\.gift", "gift_amount"),
    (r"voucher\.redemption\.(\w+)", "redemption_{0}"),
    (r"voucher\.code_config\.(\w+)", "code_{0}"),
    (r"voucher\.code_config$", "vouchers_count"),
    (r"vouchers_count", "vouchers_count"),
    (r"limits\.(\w+)", "limit_{0}"),
    (r"validity_timeframe\.(interval|duration)", "timeframe_{0}"),
    (r"validity_timeframe", "timeframe_interval"),
    (r"validity_day_of_week", "dow"),
    (r"(name|description|category|metadata|start_date|expiration_date)\b", "{0}"),
    (r"voucher", "discount_type"),
)
_ROOT = re.compile(r"^(?:campaigns?(?:\[[^\]]*\])?|promotion_tier|promotion_tiers\[[^\]]*\])\.?")


def field_of(exc: ApiError, rules_mode: str) -> str:
    """The form field an API refusal is about: the path it names (``- at `...```), else the
    first field it quotes (``a campaign needs a `name```); ``form`` when the page has none."""
    details = exc.details or ""
    if exc.key == "duplicate_found" and "campaign named" in details:
        return "name"
    mt = AT.search(details) or NAMED.search(details)
    if mt is None:
        return "form"
    path = mt.group(1)
    if path.startswith("validation_rule"):
        return "rules_json" if rules_mode == "json" else "rules"
    rest = _ROOT.sub("", path)
    for pattern, field in _FIELDS:
        got = re.match(pattern, rest)
        if got:
            return field.format(*got.groups())
    return "form"


def _message(exc: ApiError) -> str:
    return STEP.sub("", exc.details or exc.message)


# ------------------------------------------------------------------------------- rendering


def capacity(form: dict[str, str]) -> dict[str, Any]:
    """How many distinct codes the form's code config allows, against the count requested
    (the server's own check of a generation)."""
    rd = Reader(form)
    cfg_in = _code_config(rd)
    count = rd.whole("vouchers_count") or 0
    if rd.errors:
        return {"error": next(iter(rd.errors.values())), "count": count}
    try:
        cfg = msgspec.convert(cfg_in, m.CodeConfig)
    except msgspec.ValidationError as exc:
        return {"error": f"code config: {exc}", "count": count}
    out: dict[str, Any] = {"capacity": cfg.capacity(), "count": count,
                           "positions": cfg.random_positions(), "charset": len(cfg.charset)}  # fmt: skip
    try:
        check_config(cfg, count)
    except CodeConfigError as exc:
        out["error"] = exc.message
    return out


def _sections(form: dict[str, str], cur: Current | None) -> dict[str, Any]:
    """What the page shows beside the fields: rule sentences, capacity, choices."""
    rd = Reader(form)
    rule = rule_body(rd)
    return {
        "sentences": rule_sentences(rule),
        "others": [(r, rule_sentences(rule_dict(r))) for r in (cur.others if cur else [])],
        "drawable": drawable(rule) is not None,
        "capacity": capacity(form),
        "types": TYPES, "effects": [(e, e) for e in EFFECTS],
        "limits": LIMITS, "days": DAYS,
    }  # fmt: skip


def _switch(form: dict[str, str]) -> dict[str, str]:
    """The form after "Edit as JSON" / "Use the builder": the same rule set, shown the other way."""
    want = form.get("switch")
    if want not in ("json", "builder") or want == form.get("rules_mode", "builder"):
        return form
    rd = Reader(form)
    rule = rule_body(rd)
    if rd.errors:
        return form
    if want == "json":
        return form | {"rules_mode": "json", "rules_json": json.dumps(rule, indent=2) if rule else ""}
    fields = drawable(rule)
    return form if fields is None else form | fields | {"rules_mode": "builder"}


class Outcome(msgspec.Struct):
    """A checked form: its calls, their dry run's changes as diffs, or the errors by field."""

    ops: list[Op] = []
    errors: dict[str, str] = {}
    changes: list[dict[str, Any]] = []


async def check(request: Request, form: dict[str, str], cur: Current | None) -> Outcome:
    """Build the form's calls and dry-run them; refusals other than a field's (the role's
    403, a missing campaign's 404) propagate."""
    try:
        ops = campaign_ops(form, cur)
    except FormErrors as exc:
        return Outcome(errors=exc.errors)
    if not ops:
        return Outcome(ops=[])
    try:
        draft, _ = await drafts.run(request, ops)
    except ApiError as exc:
        if exc.status not in (400, 409):
            raise
        return Outcome(ops=ops, errors={field_of(exc, form.get("rules_mode", "")): _message(exc)})
    changes = [{"action": c.action, "object_type": c.object_type, "object_id": c.object_id,
                "diff": diff(msgspec.to_builtins(c.before), msgspec.to_builtins(c.after))}
               for c in draft.changes]  # fmt: skip
    return Outcome(ops=ops, changes=changes)


def _render(ctx: Ctx, signed: Signed, form: dict[str, str], cur: Current | None,
            out: Outcome | None, partial: bool, status: int = 200,
            approval: bool = False) -> Response:  # fmt: skip
    ops = [msgspec.to_builtins(o) for o in out.ops] if out else []
    action = f"/campaigns/{cur.camp.id}/edit" if cur else "/campaigns/new"
    name = "campaign_edit_form.html" if partial else "campaign_edit.html"
    return _page(name, ctx, signed, status, form=form, cur=cur, action=action,
                 checked=out is not None, errors=out.errors if out else {},
                 changes=out.changes if out else [], ops=ops,
                 ops_json=json.dumps(ops, indent=2), changes_json=json.dumps(ops),
                 approval=approval, **_sections(form, cur))  # fmt: skip


# ------------------------------------------------------------------------------- pages


async def _open(request: Request, campaign_id: str | None) -> tuple[Ctx, Signed, Current | None] | Response:
    """A GET of the editor: offered to roles that may write (others get the API's 403)."""
    got = await _enter(request, "write")
    if isinstance(got, Response):
        return got
    ctx, signed = got
    return ctx, signed, await _loaded(ctx, campaign_id)


@get("/campaigns/new", include_in_schema=False)
async def new_campaign(request: Request) -> Response:
    """An empty form, or (``?from=<id>``, "Clone") a copy of a campaign, to be created disabled."""
    got = await _open(request, request.query_params.get("from") or None)
    if isinstance(got, Response):
        return got
    ctx, signed, src = got
    form = new_form()
    if src is not None:
        form = form_of(src) | {"name": f"Copy of {src.camp.name}", "rule_id": "",
                               "rule_name": f"Copy of {src.rule.name}" if src.rule else ""}  # fmt: skip
    return _render(ctx, signed, form, None, None, False, approval=await _gated(ctx))


@get("/campaigns/{campaign_id:str}/edit", include_in_schema=False)
async def edit_campaign(request: Request, campaign_id: FromPath[str]) -> Response:
    got = await _open(request, campaign_id)
    if isinstance(got, Response):
        return got
    ctx, signed, cur = got
    assert cur is not None
    return _render(ctx, signed, form_of(cur), cur, None, False, approval=await _gated(ctx))


async def _checked(request: Request, campaign_id: str | None) -> Response:
    """"Check" (htmx): the form again, with each refusal beside its field, the calls and the diff."""
    got = await _posted(request)
    if isinstance(got, Response):
        return got
    ctx, signed, form = got
    cur = await _loaded(ctx, campaign_id)
    form = _typed(form, cur)
    partial = bool(request.headers.get("hx-request"))
    gated = await _gated(ctx)
    if form.get("switch"):  # another type's fields, or the rule set shown the other way
        return _render(ctx, signed, _switch(form), cur, None, partial, approval=gated)
    out = await check(request, form, cur)
    return _render(ctx, signed, form, cur, out, partial, approval=gated)


@post("/campaigns/new/check", include_in_schema=False, status_code=200)
async def check_new(request: Request) -> Response:
    return await _checked(request, None)


@post("/campaigns/{campaign_id:str}/edit/check", include_in_schema=False, status_code=200)
async def check_edit(request: Request, campaign_id: FromPath[str]) -> Response:
    return await _checked(request, campaign_id)


@post("/campaigns/editor/capacity", include_in_schema=False, status_code=200)
async def code_capacity(request: Request) -> Response:
    """The live capacity figure (htmx, on every change of the code fields)."""
    got = await _posted(request)
    if isinstance(got, Response):
        return got
    ctx, signed, form = got
    return _page("campaign_edit_capacity.html", ctx, signed, capacity=capacity(form))


async def _gated(ctx: Ctx) -> bool:
    """Whether this caller's definition writes go through a change set (approvals required
    and the role is not ``admin``: the API's own gate, :func:`admin.approvals.gate`)."""
    return ctx.actor.role != "admin" and await approvals.required(ctx)


async def _submit(request: Request, ctx: Ctx, form: dict[str, str], cur: Current | None,
                  ops: list[Op]) -> Outcome | str:  # fmt: skip
    """The same calls submitted as a change set: its id, or the refusal beside its field."""
    what = f"Edit campaign {cur.camp.name}" if cur else f"New campaign {form.get('name', '')}"
    body = {"title": what[: approvals.MAX_TITLE], "changes": [msgspec.to_builtins(o) for o in ops]}
    try:
        cs = await approvals.submit(request, ctx, body)
    except ApiError as exc:
        if exc.status not in (400, 409):
            raise
        return Outcome(ops=ops, errors={field_of(exc, form.get("rules_mode", "")): _message(exc)})
    return str(cs["id"])


async def _save(request: Request, campaign_id: str | None) -> Response:
    """Check, then run the same calls for real (or, approvals required, submit them as a
    change set); a refusal shows the form again (nothing written). Where it lands: the
    generation's progress, else the campaign (or the change set)."""
    got = await _posted(request)
    if isinstance(got, Response):
        return got
    ctx, signed, form = got
    cur = await _loaded(ctx, campaign_id)
    form = _typed(form, cur)
    out = await check(request, form, cur)
    gated = await _gated(ctx)
    if not out.errors and out.ops and gated:
        sent = await _submit(request, ctx, form, cur, out.ops)
        if isinstance(sent, str):
            return Redirect(f"/approvals/{sent}", status_code=303, headers=SECURITY_HEADERS)
        out = sent
    if out.errors:
        return _render(ctx, signed, form, cur, out, False, 400, approval=gated)
    answers = [a if isinstance(a, dict) else {} for a in await drafts.apply(request, out.ops)] if out.ops else []
    target = cur.camp.id if cur else drafts.id_of(answers[0])
    aid = answers[0].get("async_action_id") if answers and cur is None else None
    where = f"/actions/{aid}" if aid else f"/campaigns/{target}"
    return Redirect(where, status_code=303, headers=SECURITY_HEADERS)


@post("/campaigns/new", include_in_schema=False, status_code=303)
async def save_new(request: Request) -> Response:
    return await _save(request, None)


@post("/campaigns/{campaign_id:str}/edit", include_in_schema=False, status_code=303)
async def save_edit(request: Request, campaign_id: FromPath[str]) -> Response:
    return await _save(request, campaign_id)


HANDLERS = [new_campaign, edit_campaign, check_new, check_edit, code_capacity, save_new, save_edit]
