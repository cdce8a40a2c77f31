"""The preview page: build or paste a cart, pick a customer or a guest and a time, and read
for each promotion and code whether it applies and, if not, why (the rule or the limit, with
its numbers), the stacking and the final order. Read-only: :func:`admin.preview.preview`.

The definitions judged with are the published ones, a draft the editor posts here (hidden
field ``changes``: the API calls of ``POST /v1/drafts/check``), or a pending change set
(``change_set_id``, from the approvals page). Codes travel in the form body, never in a URL.
"""

from __future__ import annotations

import re
from typing import Any

import orjson
from litestar import Request, Response, get, post

from ..app import Ctx
from ..errors import ApiError
from ..preview import preview
from ..shapes import strip_nulls
from .base import MAX_FIELD, _enter, _page, _posted

LINES = 5
#: which form field an error's details point at (the first that matches)
FIELDS = (
    ("at", re.compile(r"`at`")),
    ("customer", re.compile(r"customer")),
    ("codes", re.compile(r"redeemables|duplicated|Redeemable")),
    ("draft", re.compile(r"changes|change set|change_set")),
    ("cart", re.compile(r"order|item|Malformed")),
)


def _empty_form() -> dict[str, Any]:
    return {"lines": [{"product": "", "sku": "", "qty": "", "price": ""} for _ in range(LINES)],
            "order_json": "", "customer": "", "at": "", "codes": "", "changes": "",
            "change_set_id": ""}  # fmt: skip


async def _campaign_codes(ctx: Ctx, campaign_id: str) -> str:
    """What to try for a campaign from its detail page: its promotion tiers, or the codes the
    definitions document holds (generic codes), a few at most."""
    st = await ctx.repo.state()
    camp = st.campaign(campaign_id)
    if camp is None:
        return ""
    if camp.promotion is not None:
        return "\n".join(t.id for t in camp.promotion.tiers)
    return "\n".join([v.code for v in st.defs.vouchers if v.campaign_id == camp.id][:5])


@get("/preview", include_in_schema=False)
async def preview_form(request: Request) -> Response:
    got = await _enter(request)
    if isinstance(got, Response):
        return got
    ctx, signed = got
    form = _empty_form()
    campaign = (ctx.q("campaign") or "")[:MAX_FIELD]
    if campaign:
        form["codes"] = await _campaign_codes(ctx, campaign)
    form["change_set_id"] = (ctx.q("change_set") or "")[:MAX_FIELD]
    return _page("preview.html", ctx, signed, form=form, out=None, errors={})


def _int_field(text: str, name: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise ApiError(400, "invalid_payload", "Invalid payload", f"order: {name} must be a whole number") from None


def _cents(text: str) -> int:
    """``12.50`` or ``12`` (currency units) as cents."""
    mt = re.fullmatch(r"\s*(\d{1,11})(?:[.,](\d{1,2}))?\s*", text)
    if not mt:
        raise ApiError(400, "invalid_payload", "Invalid payload",
                       f"order: a unit price must be an amount like 12.50, got {text[:20]!r}")  # fmt: skip
    return int(mt.group(1)) * 100 + int((mt.group(2) or "0").ljust(2, "0"))


def _cart(form: dict[str, str], shown: dict[str, Any]) -> dict[str, Any]:
    """The order from the raw JSON when given, else from the cart builder's lines."""
    raw = form.get("order_json", "").strip()
    shown["order_json"] = raw
    if raw:
        try:
            order = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise ApiError(400, "invalid_payload", "Invalid payload", f"order: Malformed JSON: {exc}") from None
        return order
    items = []
    for i, line in enumerate(shown["lines"]):
        for f in ("product", "sku", "qty", "price"):
            line[f] = form.get(f"line-{i}-{f}", "").strip()[:MAX_FIELD]
        if not (line["product"] or line["sku"]):
            continue
        qty, price = _int_field(line["qty"] or "1", "a quantity"), _cents(line["price"] or "0")
        items.append({"product_id": line["product"] or None, "sku_id": line["sku"] or None,
                      "quantity": qty, "price": price, "amount": qty * price})  # fmt: skip
    if not items:
        raise ApiError(400, "invalid_payload", "Invalid payload",
                       "order: add a line (product or SKU id) or paste the order as JSON")  # fmt: skip
    return {"amount": sum(it["amount"] for it in items), "items": items}


def _redeemables(text: str) -> list[dict[str, str]] | None:
    ids = [x.strip() for x in re.split(r"[\s,]+", text) if x.strip()]
    if not ids:
        return None
    return [{"object": "promotion_tier" if x.startswith("promo_") else "voucher", "id": x[:MAX_FIELD]}
            for x in ids[:30]]  # fmt: skip


def _body(form: dict[str, str], shown: dict[str, Any]) -> dict[str, Any]:
    for f in ("customer", "at", "codes", "changes", "change_set_id"):
        shown[f] = form.get(f, "").strip()
    body: dict[str, Any] = {"order": _cart(form, shown)}
    body["customer"] = shown["customer"][:MAX_FIELD] or None
    if shown["at"]:  # a datetime-local field: UTC, as the label says
        body["at"] = shown["at"] + ("" if shown["at"].endswith("Z") else "Z")
    body["redeemables"] = _redeemables(shown["codes"])
    if shown["changes"]:
        try:
            body["changes"] = orjson.loads(shown["changes"])
        except orjson.JSONDecodeError as exc:
            raise ApiError(400, "invalid_payload", "Invalid payload", f"changes: Malformed JSON: {exc}") from None
    body["change_set_id"] = shown["change_set_id"][:MAX_FIELD] or None
    return strip_nulls(body)


def _field_of(exc: ApiError) -> str:
    text = f"{exc.details} {exc.message}"
    for name, pat in FIELDS:
        if pat.search(text):
            return name
    return "form"


@post("/preview", include_in_schema=False, status_code=200)
async def preview_run(request: Request) -> Response:
    """Run the preview (read-only) and show each redeemable's verdict with its reason."""
    got = await _posted(request)
    if isinstance(got, Response):
        return got
    ctx, signed, form = got
    shown = _empty_form()
    try:
        out = await preview(request, ctx, _body(form, shown))
    except ApiError as exc:
        if exc.status in (401, 403) and exc.key != "forbidden":
            raise
        errors = {_field_of(exc): exc.details or exc.message}
        return _page("preview.html", ctx, signed, exc.status, form=shown, out=None, errors=errors)
    return _page("preview.html", ctx, signed, form=shown, out=out, errors={})


HANDLERS = [preview_form, preview_run]
