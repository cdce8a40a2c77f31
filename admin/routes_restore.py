"""``POST /v1/audit-log/{entry_id}/restore``: put a definition back as an audit entry recorded it.

Every change of the definitions document is audited with the object ``before`` and ``after``
it, in core's own model (what the gateways compile), so a version can be put back exactly,
with nothing lost in a translation to and from the API's shapes. The restore is an ordinary
write of the object's kind (:class:`admin.resources.Resource`): validated as its model,
compiled with the whole document, published to the gateways, audited ``<kind>.restore``, and
role-checked ``write``. It runs under a dry run too (``admin.drafts``), which is how the web
UI shows what a restore will change before it is confirmed.

Only an object that still exists can be restored (a deleted campaign's generated codes are
gone with it: recreate it instead); codes kept outside the document (generated, imported,
issued) are changed with ``PUT /v1/vouchers/{code}``; a campaign's admin metadata
(description, the Voucherify ``type``) is not part of its audited definition and stays as it is.
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec
from litestar import Request, Response, post
from litestar.params import FromPath
from msgspec import Struct

from core import model as m
from store.openapi import Body, Op, Reply

from .app import begin, json_body, ok
from .audit import Change, check_cursor, entry_out
from .errors import ApiError, invalid, not_found
from .repo import Outcome, State
from .resources import Resource, show
from .routes_defs import CAMPAIGN, PRODUCT, RULE, SKU, TIER, VOUCHER
from .routes_loyalty import EARNING_RULE, LOYALTY_TIER, REWARD, REWARD_ASSIGNMENT
from .shapes import convert

#: the kinds whose audited versions can be restored, by the audit entry's ``object_type``
RESTORABLE: dict[str, Resource] = {
    r.kind: r
    for r in (CAMPAIGN, VOUCHER, TIER, RULE, PRODUCT, SKU, EARNING_RULE, LOYALTY_TIER, REWARD,
              REWARD_ASSIGNMENT)  # fmt: skip
}
STACKING = "stacking_rules"


class RestoreIn(Struct, forbid_unknown_fields=True):
    #: ``after``: the version this entry made; ``before``: the one it replaced (undo it)
    version: Literal["before", "after"]


async def audited_version(ctx: Any, entry_id: str, version: str) -> dict[str, Any]:
    """The audit entry ``entry_id`` (404 if absent) with the version to restore checked: 400
    when its kind cannot be restored or that side of it holds nothing."""
    check_cursor(entry_id, "entry_id")
    found = await ctx.r.xrange(ctx.k.audit, min=entry_id, max=entry_id, count=1)
    if not found:
        raise not_found("audit_entry", entry_id)
    entry = entry_out(*found[0])
    kind = entry["resource_type"]
    if kind not in RESTORABLE and kind != STACKING:
        raise invalid(f"A {kind} cannot be restored from the audit log: only definitions can "
                      f"({', '.join(sorted([*RESTORABLE, STACKING]))})")  # fmt: skip
    if not isinstance(entry[version], dict):
        raise invalid(f"Entry {entry_id} ({entry['action']}) has no `{version}` version to restore")
    return entry


def _restore(res: Resource, entry: dict[str, Any], version: str, now: int) -> Any:
    obj = entry[version]

    def fn(st: State) -> Outcome:
        found = res.lookup(st, entry["resource_id"])
        if found is None:
            raise ApiError(
                409, "resource_gone", "Cannot restore",
                f"{res.kind} {entry['resource_id']} no longer exists: a deleted object is not "
                "restored (create it again)", resource_type=res.kind,
            )  # fmt: skip
        if res.key(found.obj) != entry["resource_id"]:
            raise ApiError(409, "resource_gone", "Cannot restore",
                           f"{res.kind} {entry['resource_id']} is not the object this entry names")  # fmt: skip
        return res.change(st, found, "restore", lambda st, cur, d: obj, now, skip_no_op=True)

    return fn


def _restore_stacking(entry: dict[str, Any], version: str) -> Any:
    def fn(st: State) -> Outcome:
        before = st.defs.stacking_rules
        new = convert(entry[version], m.StackingRules, STACKING)
        if msgspec.to_builtins(new) == msgspec.to_builtins(before):
            return Outcome(result=new, write=False)
        st.defs.stacking_rules = new
        return Outcome(result=new, changes=[Change(action="stacking_rules.restore", object_type=STACKING,
                                                   object_id="project", before=before, after=new)])  # fmt: skip

    return fn


@post("/v1/audit-log/{entry_id:str}/restore", tags=["audit"], status_code=200)
async def restore_version(request: Request, entry_id: FromPath[str]) -> Response:
    """Restore the ``before`` or ``after`` of an audit entry of a definition (role ``write``);
    a restore that changes nothing writes nothing. Answers the object as its kind's GET does."""
    ctx = await begin(request, "write")
    body = await json_body(request)
    version = convert(body, RestoreIn, "restore").version
    entry = await audited_version(ctx, entry_id, version)
    kind = entry["resource_type"]
    if kind == STACKING:
        new = await ctx.repo.mutate(ctx.actor, ctx.rid, _restore_stacking(entry, version))
        return ok(msgspec.to_builtins(new) | {"object": STACKING})
    res = RESTORABLE[kind]
    found = await ctx.repo.mutate(ctx.actor, ctx.rid, _restore(res, entry, version, ctx.now()))
    return await show(ctx, res, found)


HANDLERS = [restore_version]

OPERATIONS: dict[tuple[str, str], Op] = {
    ("POST", "/v1/audit-log/{entry_id}/restore"): Op(
        bodies=(Body(RestoreIn),),
        replies={200: Reply("The restored object, as its kind's GET answers it", {"type": "object"})},
        errors=(400, 401, 403, 404, 409, 503),
    ),
}
