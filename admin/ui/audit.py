"""The audit log as field diffs."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import msgspec
from litestar import Request, Response, get, post
from litestar.params import FromPath
from litestar.response import Redirect

from .. import audit
from ..drafts import Op, call, run
from ..errors import ApiError
from ..routes_restore import RESTORABLE, STACKING, audited_version
from .base import (
    MAX_FIELD,
    PAGE_SIZE,
    SECURITY_HEADERS,
    _canonical,
    _cursor,
    _enter,
    _page,
    _posted,
)

# ------------------------------------------------------------------------------- audit

#: object types the audit filter offers (any other is accepted from the URL)
AUDIT_TYPES = ("campaign", "voucher", "promotion_tier", "validation_rule", "customer", "segment",
               "loyalty_card", "redemption", "key", "product", "stacking_rules")  # fmt: skip


def _flat(obj: Any, prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}}`` as ``{"a.b": 1}`` (lists kept whole)."""
    if not isinstance(obj, dict):
        return {prefix or "(value)": obj} if obj is not None else {}
    out: dict[str, Any] = {}
    for k, v in obj.items():
        path = f"{prefix}.{k}" if prefix else str(k)
        if isinstance(v, dict) and v:
            out.update(_flat(v, path))
        else:
            out[path] = v
    return out


def _shown(v: Any) -> str:
    text = v if isinstance(v, str) else msgspec.json.encode(v).decode()
    return text if len(text) <= 300 else text[:300] + "…"


def diff(before: Any, after: Any) -> list[dict[str, str]]:
    """The fields an audited change touched, each with its value before and after
    (``""`` where it did not exist)."""
    b, a = _flat(before), _flat(after)
    out = []
    for path in sorted(set(b) | set(a)):
        if path in b and path in a and b[path] == a[path]:
            continue
        kind = "changed" if path in b and path in a else ("added" if path in a else "removed")
        out.append({"path": path, "kind": kind, "before": _shown(b[path]) if path in b else "",
                    "after": _shown(a[path]) if path in a else ""})  # fmt: skip
    return out


@get("/audit", include_in_schema=False)
async def audit_page(request: Request) -> Response:
    """The audit trail newest first as diffs; ``type`` / ``id`` filter in the URL, ``after``
    pages on."""
    got = await _enter(request)
    if isinstance(got, Response):
        return got
    ctx, signed = got
    qp = request.query_params
    otype = (qp.get("type") or "").strip()[:MAX_FIELD]
    oid = (qp.get("id") or "").strip()[:MAX_FIELD]
    after = _cursor(qp.get("after"), row=False)
    params = {"type": otype, "id": oid, "after": after}
    clean = _canonical(request, "/audit", params)
    if clean is not None:
        return Redirect(clean, status_code=303, headers=SECURITY_HEADERS)
    out = await audit.query(ctx.r, ctx.k.audit, object_type=otype or None, object_id=oid or None,
                            limit=PAGE_SIZE, starting_after=after)  # fmt: skip
    entries = [e | {"diff": diff(e["before"], e["after"])} for e in out["data"]]
    more = out["more_starting_after"]
    filt = {k: v for k, v in params.items() if v and k != "after"}
    next_link = "/audit?" + urlencode({**filt, "after": more}) if more else None
    first_link = ("/audit" + ("?" + urlencode(filt) if filt else "")) if after else None
    return _page("audit.html", ctx, signed, entries=entries, restorable=(*RESTORABLE, STACKING), otype=otype, oid=oid,
                 types=AUDIT_TYPES, next_link=next_link, first_link=first_link)  # fmt: skip



VERSIONS = ("after", "before")


def _restore_op(entry_id: str, version: str) -> Op:
    return Op("POST", f"/v1/audit-log/{entry_id}/restore", {"version": version})


def _version(value: str | None) -> str:
    if value not in VERSIONS:
        raise ApiError(400, "invalid_payload", "Invalid payload", "`version` must be after or before")
    return value


@get("/audit/{entry_id:str}/restore", include_in_schema=False)
async def restore_confirm(request: Request, entry_id: FromPath[str]) -> Response:
    """What restoring an entry's version would change (a dry run of the API's restore, with its
    role check), and the button that does it."""
    got = await _enter(request)
    if isinstance(got, Response):
        return got
    ctx, signed = got
    entry_id = entry_id[:MAX_FIELD]
    version = _version(request.query_params.get("version"))
    entry = await audited_version(ctx, entry_id, version)
    draft, _ = await run(request, [_restore_op(entry_id, version)])
    changes = [{"action": c.action, "diff": diff(msgspec.to_builtins(c.before), msgspec.to_builtins(c.after))}
               for c in draft.changes]  # fmt: skip
    return _page("audit_restore.html", ctx, signed, entry=entry, version=version, changes=changes)


@post("/audit/{entry_id:str}/restore", include_in_schema=False, status_code=200)
async def restore(request: Request, entry_id: FromPath[str]) -> Response:
    """Restore through the API's own route (role ``write``, audited ``<kind>.restore``); back to
    the object's history."""
    got = await _posted(request)
    if isinstance(got, Response):
        return got
    _ctx, _signed, form = got
    entry_id = entry_id[:MAX_FIELD]
    version = _version(form.get("version"))
    entry = await audited_version(_ctx, entry_id, version)
    await call(request, _restore_op(entry_id, version))
    back = "/audit?" + urlencode({"type": entry["resource_type"], "id": entry["resource_id"]})
    return Redirect(back, status_code=303, headers=SECURITY_HEADERS)


HANDLERS = [audit_page, restore_confirm, restore]
