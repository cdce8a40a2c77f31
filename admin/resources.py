"""One description per kind of definition, and the get / change / delete that serve every kind.

A :class:`Resource` says what differs between campaigns, vouchers kept in the document,
promotion tiers, validation rules, products and SKUs: how one is found in a
:class:`~admin.repo.State` (and the list that holds it), how it is shown, its core model type,
its kind (the audit entries' ``object_type`` and the ``<kind>.<verb>`` of their ``action``, the
root of its validation errors), the ``resource_type`` of its 404 and where its created / updated
times are kept. What is the same is written once:

- :meth:`Resource.find`: the object or a 404 naming its kind; under a parent when the route
  names one (a SKU under its product);
- :meth:`Resource.add`, :meth:`Resource.change`, :meth:`Resource.remove`: the change inside
  :meth:`admin.repo.Repo.mutate` (one transaction, compiled by core, audited), as an
  :class:`~admin.repo.Outcome` whose result is the :class:`Found` object after it;
- :func:`get_one`, :func:`create_one`, :func:`change_one`, :func:`delete_one`: those for one
  route (:func:`create_many`: the objects of an array body, in one transaction), and
  :func:`show`: the answer, the object as the document now is.

A route states only its own part: an ``edit`` (the new fields of the object, which may refuse
with an ApiError), a ``cascade`` of a delete (what goes with it, or a refusal), its permission.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import msgspec
from litestar import Response

from . import shapes
from .app import Ctx, ok
from .audit import Change
from .errors import not_found
from .repo import CampaignMeta, Outcome, State


class Found(NamedTuple):
    """An object of the document with where it lives."""

    obj: Any
    #: the list that holds it (``st.defs.products``, a product's ``skus``...)
    home: list[Any]
    #: what holds it when that is not the document: a tier's campaign, a SKU's product
    parent: Any = None


#: ``edit(st, cur, d)`` -> the fields of the changed object, from ``d`` (``cur``'s fields as
#: builtins, a copy that may be modified) in the document ``st``; an ApiError refuses the change
Edit = Callable[[State, Any, dict[str, Any]], dict[str, Any]]
#: ``cascade(st, obj)``, run as ``obj`` is deleted: removes what goes with it (or refuses with an
#: ApiError) and returns the writes to queue in the same transaction, if any
Cascade = Callable[[State, Any], Callable[[Any], None] | None]


def set_active(active: bool) -> Edit:
    """The edit of an enable (``True``) or a disable (``False``)."""
    return lambda st, cur, d: {**d, "active": active}


class Times:
    """Created / updated times in ``meta.times["<kind>:<key>"]``, dropped with the object
    unless ``kept_after_delete`` (products and SKUs have always kept theirs)."""

    def __init__(self, kept_after_delete: bool = False) -> None:
        self.kept_after_delete = kept_after_delete

    def stamp(self, st: State, kind: str, key: str, now: int, created: bool = False) -> None:
        st.touch(kind, key, now, created=created)

    def forget(self, st: State, kind: str, key: str) -> None:
        if not self.kept_after_delete:
            st.meta.times.pop(f"{kind}:{key}", None)


class CampaignTimes(Times):
    """A campaign's times are in its :class:`~admin.repo.CampaignMeta` (``meta.campaigns``)."""

    def stamp(self, st: State, kind: str, key: str, now: int, created: bool = False) -> None:
        if created:
            st.meta.campaigns[key] = CampaignMeta(created_at=now, updated_at=now)
        else:
            st.meta.campaigns.setdefault(key, CampaignMeta(created_at=now)).updated_at = now

    def forget(self, st: State, kind: str, key: str) -> None:
        st.meta.campaigns.pop(key, None)


def _id(obj: Any) -> str:
    return obj.id


@dataclass(frozen=True, kw_only=True)
class Resource:
    """One kind of object of the definitions document, as the admin routes see it."""

    #: ``campaign``, ``promotion_tier``...: the audit ``object_type`` and ``<kind>.<verb>``
    #: action, the root of its validation errors, its key in ``meta.times``
    kind: str
    #: its core.model struct
    model: type
    #: ``lookup(st, ident)`` -> the object, or None (ids, names, source_ids: as the kind has it)
    lookup: Callable[[State, str], Found | None]
    #: ``view(ctx, st, found)`` -> its answer in Voucherify's shape (a dict, or awaitable one)
    view: Callable[[Ctx, State, Found], Any]
    #: the ``resource_type`` of its 404 (default: ``kind``)
    missing: str = ""
    #: the kind that holds it, when a route names both (a SKU under its product)
    parent: Resource | None = None
    #: its id in audit entries and times (a voucher's is its code)
    key: Callable[[Any], str] = _id
    times: Times = field(default_factory=Times)

    # -- inside a transaction (State -> Found / Outcome) -------------------------------------

    def find(self, st: State, ident: str, parent_id: str | None = None) -> Found:
        """The object ``ident`` (held by the parent ``parent_id`` when given: 404 in another);
        404 if absent."""
        within = None
        if parent_id is not None:
            assert self.parent is not None, f"a {self.kind} has no parent"
            within = self.parent.get(st, parent_id)
        found = self.lookup(st, ident)
        if found is None or (within is not None and found.parent is not within):
            raise not_found(self.missing or self.kind, ident)
        return found

    def get(self, st: State, ident: str) -> Any:
        """The object ``ident`` itself; 404 if absent."""
        return self.find(st, ident).obj

    def add(self, st: State, new: Found, now: int) -> Outcome:
        """Add ``new.obj`` to ``new.home``: stamped created, audited ``<kind>.create``."""
        new.home.append(new.obj)
        key = self.key(new.obj)
        self.stamp(st, key, now, created=True)
        return Outcome(result=new, changes=[self.entry("create", key, None, new.obj)])

    def change(
        self,
        st: State,
        found: Found,
        verb: str,
        edit: Edit,
        now: int,
        skip_no_op: bool = False,
    ) -> Outcome:
        """Replace ``found.obj`` by ``edit``'s fields, validated as the kind's model; audited
        ``<kind>.<verb>`` (``before``: the object as it was, left untouched). It is stamped
        updated first, so that an edit may complete what the stamp made (a campaign's
        metadata). ``skip_no_op``: a change that changes nothing writes nothing (no version,
        no audit entry)."""
        cur = found.obj
        key = self.key(cur)
        self.stamp(st, key, now)
        new = shapes.convert(edit(st, cur, msgspec.to_builtins(cur)), self.model, self.kind)
        if skip_no_op and msgspec.to_builtins(new) == msgspec.to_builtins(cur):
            return Outcome(result=found, write=False)
        found.home[found.home.index(cur)] = new
        return Outcome(result=found._replace(obj=new), changes=[self.entry(verb, key, cur, new)])

    def remove(self, st: State, found: Found, cascade: Cascade | None = None) -> Outcome:
        """Delete ``found.obj`` (and, with ``cascade``, what goes with it); its times are
        forgotten; audited ``<kind>.delete``."""
        cur = found.obj
        extra = cascade(st, cur) if cascade is not None else None
        found.home.remove(cur)
        key = self.key(cur)
        self.forget(st, key)
        return Outcome(result=found, changes=[self.entry("delete", key, cur, None)], extra=extra)

    def stamp(self, st: State, key: str, now: int, created: bool = False) -> None:
        """Record that the object ``key`` was created (or updated) at ``now``."""
        self.times.stamp(st, self.kind, key, now, created)

    def forget(self, st: State, key: str) -> None:
        """Drop the times of the deleted object ``key`` (if the kind does)."""
        self.times.forget(st, self.kind, key)

    def entry(self, verb: str, key: str, before: Any, after: Any) -> Change:
        """The audit entry of ``<kind>.<verb>`` on the object ``key``."""
        return Change(
            action=f"{self.kind}.{verb}",
            object_type=self.kind,
            object_id=key,
            before=before,
            after=after,
        )

    # -- answers -------------------------------------------------------------------------------

    async def render(self, ctx: Ctx, st: State, found: Found) -> dict[str, Any]:
        out = self.view(ctx, st, found)
        return await out if inspect.isawaitable(out) else out


# -- one route's read or write ---------------------------------------------------------------


async def show(ctx: Ctx, res: Resource, found: Found) -> Response:
    """The answer to a write: ``found`` as the document now is."""
    return ok(await res.render(ctx, await ctx.repo.state(), found))


async def get_one(
    ctx: Ctx, res: Resource, ident: str, *, parent_id: str | None = None
) -> Response:
    """The object ``ident`` (held by ``parent_id`` when given); 404 if absent."""
    st = await ctx.repo.state()
    return ok(await res.render(ctx, st, res.find(st, ident, parent_id)))


async def create_one(
    ctx: Ctx, res: Resource, build: Callable[[State], Found], watch: Iterable[str] = ()
) -> Response:
    """Add the object ``build(st)`` makes in the document ``st`` (see :meth:`Resource.add`;
    ``build`` may refuse with an ApiError) and answer it. ``watch``: as :meth:`Repo.mutate`."""
    now = ctx.now()

    def fn(st: State) -> Outcome:
        return res.add(st, build(st), now)

    return await show(ctx, res, await ctx.repo.mutate(ctx.actor, ctx.rid, fn, watch=watch))


async def create_many(
    ctx: Ctx, res: Resource, builds: Iterable[Callable[[State], Found]]
) -> list[dict[str, Any]]:
    """Add the objects the ``builds`` make, in order and in ONE transaction (each build sees
    the document with the ones before it added; any ApiError refuses them all), and answer
    their views, in order."""
    now = ctx.now()
    builds = list(builds)

    def fn(st: State) -> Outcome:
        out = Outcome(result=[])
        for build in builds:
            one = res.add(st, build(st), now)
            out.result.append(one.result)
            out.changes = [*out.changes, *one.changes]
        return out

    found = await ctx.repo.mutate(ctx.actor, ctx.rid, fn)
    st = await ctx.repo.state()
    return [await res.render(ctx, st, f) for f in found]


async def change_one(
    ctx: Ctx,
    res: Resource,
    ident: str,
    verb: str,
    edit: Edit,
    *,
    parent_id: str | None = None,
    skip_no_op: bool = False,
) -> Response:
    """Change the object ``ident`` (see :meth:`Resource.change`) and answer it."""
    now = ctx.now()

    def fn(st: State) -> Outcome:
        return res.change(st, res.find(st, ident, parent_id), verb, edit, now, skip_no_op)

    return await show(ctx, res, await ctx.repo.mutate(ctx.actor, ctx.rid, fn))


async def delete_one(
    ctx: Ctx,
    res: Resource,
    ident: str,
    *,
    parent_id: str | None = None,
    cascade: Cascade | None = None,
) -> None:
    """Delete the object ``ident`` (see :meth:`Resource.remove`)."""

    def fn(st: State) -> Outcome:
        return res.remove(st, res.find(st, ident, parent_id), cascade)

    await ctx.repo.mutate(ctx.actor, ctx.rid, fn)
