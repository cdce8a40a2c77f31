"""Draft changes: admin's own write routes run in process as a dry run.

The web UI's editor (check a campaign before saving it), the preview of definitions that are
not published yet, and approvals' change sets all describe a change the same way, as the API
calls that would make it (:class:`Op`: method, path, JSON body). :func:`run` runs them on a
private copy of the document (:func:`admin.repo.dry_run`): each goes through its route as a
real call would (the caller's role check, the same parsing, validation and compilation, the
same 400 naming the field) and stops at its write, so nothing reaches Redis. :func:`apply`
runs them for real, one after the other, through the same routes.

Only definition writes can be drafted (:data:`DRAFTABLE`): they are the ones whose every
write goes through :class:`admin.repo.Repo`. A later call may name an object an earlier one
creates: ``$changes[i].id`` in its path or body stands for the id call ``i`` returned (a new
campaign's rule set and its assignment), resolved call by call by :func:`run` and :func:`apply`.
"""

from __future__ import annotations

import re
from typing import Any

import msgspec
import orjson
from litestar import Request, Response

from . import routes_defs as d
from .app import call_route
from .errors import ApiError
from .repo import Draft, DryRun, dry_run
from .routes_restore import restore_version
from .shapes import convert

#: the routes a draft may call
DRAFTABLE = (
    d.create_campaign,
    d.update_campaign,
    d.enable_campaign,
    d.disable_campaign,
    d.create_voucher,
    d.update_voucher,
    d.enable_voucher,
    d.disable_voucher,
    d.add_tier,
    d.update_tier,
    d.enable_tier,
    d.disable_tier,
    d.create_rule,
    d.update_rule,
    d.create_assignment,
    d.put_stacking,
    d.create_product,
    d.update_product,
    restore_version,
)

MAX_OPS = 50
#: in a call's path or body: the id that call ``i`` of the same change returned
REF = re.compile(r"\$changes\[(\d+)\]\.id")


class Op(msgspec.Struct, forbid_unknown_fields=True):
    """One API call of a change: ``{"method": "PUT", "path": "/v1/campaigns/camp_1",
    "body": {...}}``."""

    method: str
    path: str
    body: dict[str, Any] | None = None


def _pattern(path: str) -> re.Pattern[str]:
    out = re.sub(r"\{(\w+):str\}", r"(?P<\1>[^/]+)", path)
    return re.compile("^" + out + "$")


_TABLE = [
    (method, _pattern(path), handler)
    for handler in DRAFTABLE
    for path in handler.paths
    for method in handler.http_methods
]


def route_of(op: Op) -> tuple[Any, dict[str, str]]:
    """The route handler an op names and its path parameters; 400 if it is not draftable."""
    for method, pat, handler in _TABLE:
        mt = pat.match(op.path) if method == op.method.upper() else None
        if mt:
            return handler, mt.groupdict()
    raise ApiError(
        400,
        "invalid_payload",
        "Invalid payload",
        f"{op.method} {op.path} cannot be part of a draft: only definition writes can "
        "(campaigns, codes, promotion tiers, validation rules, stacking rules, products, "
        "restores from the audit log)",
    )


def ops_from(raw: Any) -> list[Op]:
    """A list of ops from decoded JSON; 400 naming the op that is malformed."""
    if not isinstance(raw, list) or not raw:
        raise ApiError(400, "invalid_payload", "Invalid payload", "`changes` must be a non-empty list")
    if len(raw) > MAX_OPS:
        raise ApiError(400, "invalid_payload", "Invalid payload", f"At most {MAX_OPS} changes")
    ops = convert(raw, list[Op], "changes")
    for op in ops:
        route_of(op)
    return ops


async def call(request: Request, op: Op) -> Response:
    """Run one op through its route with ``request``'s caller (its role check applies)."""
    handler, params = route_of(op)
    return await call_route(request, handler, op.body or {}, **params)


def resolved(op: Op, ids: list[str]) -> Op:
    """``op`` with each ``$changes[i].id`` replaced by ``ids[i]`` (one not returned yet stays,
    and its route refuses it as an unknown id)."""

    def sub(v: Any) -> Any:
        if isinstance(v, str):
            return REF.sub(lambda mt: ids[int(mt.group(1))] if int(mt.group(1)) < len(ids) else mt.group(0), v)
        if isinstance(v, dict):
            return {k: sub(x) for k, x in v.items()}
        if isinstance(v, list):
            return [sub(x) for x in v]
        return v

    return Op(op.method, sub(op.path), sub(op.body))


def id_of(result: Any) -> str:
    """The id of what a call made or changed (its answer, or a dry run's result), else ``""``."""
    obj = getattr(result, "obj", result)
    got = obj.get("id") if isinstance(obj, dict) else getattr(obj, "id", None)
    return got if isinstance(got, str) else ""


class Result(msgspec.Struct):
    """One op of a dry run: what its write would have returned."""

    op: Op
    result: Any


async def run(request: Request, ops: list[Op], draft: Draft | None = None) -> tuple[Draft, list[Result]]:
    """Dry-run ``ops`` in order on ``draft`` (default: a copy of the published document): the
    draft after them, and each op's result. The first refused op raises its ApiError (with
    ``changes[i]`` named in its details)."""
    admin = request.app.state.admin
    draft = draft or await admin.repo.draft()
    out: list[Result] = []
    ids: list[str] = []
    with dry_run(draft):
        for i, given in enumerate(ops):
            op = resolved(given, ids)
            try:
                await call(request, op)
            except DryRun as dr:
                out.append(Result(op, dr.result))
                ids.append(id_of(dr.result))
                continue
            except ApiError as exc:
                if len(ops) > 1:
                    exc.details = f"changes[{i}] ({op.method} {op.path}): {exc.details}"
                raise
            out.append(Result(op, None))  # nothing to write (e.g. enabling what is enabled)
            ids.append("")
    return draft, out


async def apply(request: Request, ops: list[Op]) -> list[Any]:
    """Run ``ops`` for real, in order, each through its route (each its own atomic write):
    their decoded answers."""
    ids: list[str] = []
    out: list[Any] = []
    for op in ops:
        resp = await call(request, resolved(op, ids))
        got = orjson.loads(resp.content) if resp.content else None
        out.append(got)
        ids.append(id_of(got))
    return out
