"""The definitions document: read, modify, compile, publish, under an optimistic lock.

Every change runs :meth:`Repo.mutate`:

1. ``WATCH Pdefs:version`` (plus the bucket of any code kept outside the document the change
   depends on, e.g. a code created in the document must not exist outside it), read the document, its version and the admin metadata;
2. apply the change to a fresh copy;
3. validate it with msgspec and compile it with ``core`` (a change that does not compile is
   refused with a 400 naming the object and field; nothing is written);
4. ``MULTI``: the document as version ``v + 1``, the version, a new random stamp, the
   metadata, the audit entry, ``PUBLISH Pdefs:changed v+1``; ``EXEC``.

Reads are cached per (version, stamp): a version alone can repeat (a wiped prefix starts again
at 1), a random stamp cannot. A document written without a stamp (by another tool) is not
cached.

If anything watched changed meanwhile, EXEC fails and the change is re-applied on the new
document, so two concurrent admin writes never lose each other. Codes kept outside the
document (in their buckets, store/codebook.py) change through :meth:`Repo.mutate_code`, the
same way with their bucket watched and a ``code:<CODE>`` notice.
"""

from __future__ import annotations

import asyncio
import re
import secrets
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import msgspec
from redis.exceptions import WatchError

import core
from core import earning
from core import model as m
from core.errors import CompileError
from store import codebook
from store.keys import Keys

from . import audit
from .errors import ApiError, from_compile, from_validation
from .shapes import convert

E = core.engine
MAX_RETRIES = 50


# ------------------------------------------------------------------------------- dry runs


class Draft:
    """The document as a dry run left it (nothing written): its state, compiled ruleset, the
    codes changed outside the document, and the audit changes the writes would have made."""

    def __init__(self, st: State, rs: Any) -> None:
        self.st = st
        self.rs = rs
        self.codes: dict[str, m.Voucher] = {}
        self.changes: list[audit.Change] = []


#: set by :func:`dry_run`: the draft that writes go to instead of Redis
_DRAFT: ContextVar[Draft | None] = ContextVar("promogate_draft", default=None)


class DryRun(Exception):
    """Raised by a write under :func:`dry_run` once the change is applied to the draft and
    compiled: the route stops there, before any side effect that follows its write (an async
    action started, a notice sent). ``result`` is what the write would have returned."""

    def __init__(self, result: Any, changes: list[audit.Change]) -> None:
        super().__init__("dry run")
        self.result = result
        self.changes = changes


def in_dry_run() -> bool:
    """Whether this call runs under :func:`dry_run` (its writes go to a draft)."""
    return _DRAFT.get() is not None


@contextmanager
def dry_run(draft: Draft) -> Iterator[Draft]:
    """Within it, :meth:`Repo.state` / :meth:`Repo.ruleset` / :meth:`Repo.code` read ``draft``
    and every write (:meth:`Repo.mutate`, :meth:`Repo.mutate_code`, :meth:`Repo.record`) is
    applied to it, validated and compiled exactly as for real, then raises :class:`DryRun`:
    Redis is never written. A change refused (400 naming the field) raises its ApiError as
    it would for real. Start a draft with :meth:`Repo.draft`."""
    token = _DRAFT.set(draft)
    try:
        yield draft
    finally:
        _DRAFT.reset(token)


class CampaignMeta(msgspec.Struct, kw_only=True, omit_defaults=True):
    created_at: int = 0
    updated_at: int = 0
    description: str | None = None
    #: the Voucherify ``type`` as sent (``STANDALONE`` has no core equivalent)
    type: str | None = None
    #: codes generated for the campaign outside the document (requested count)
    vouchers_count: int = 0
    creation_status: str = "DONE"
    async_action_id: str | None = None


class Meta(msgspec.Struct, kw_only=True, omit_defaults=True):
    """What the admin API shows beside the definitions (``Padmin:meta``)."""

    campaigns: dict[str, CampaignMeta] = {}
    #: ``<kind>:<id>`` -> [created_at ms, updated_at ms]
    times: dict[str, list[int]] = {}
    #: campaign creation counter (``Campaign.created_seq``)
    seq: int = 0


_defs_dec = msgspec.json.Decoder(m.Definitions)
_meta_dec = msgspec.json.Decoder(Meta)
_voucher_dec = msgspec.json.Decoder(m.Voucher)
_enc = msgspec.json.Encoder()


class State:
    """One read of the document: definitions, metadata, version; lookups by id."""

    def __init__(
        self,
        defs: m.Definitions,
        meta: Meta,
        version: int,
        watched: dict[str, bytes | None] | None = None,  # code -> its record (Repo.mutate)
    ) -> None:
        self.defs = defs
        self.meta = meta
        self.version = version
        self.watched = watched or {}
        #: ``Padmin:defs_stamp`` as read with the document (None: written by another tool)
        self.stamp: str | None = None

    @property
    def cache_key(self) -> tuple[int, str] | None:
        return None if self.stamp is None else (self.version, self.stamp)

    # lookups (None when absent)

    def campaign(self, ident: str) -> m.Campaign | None:
        for c in self.defs.campaigns:
            if c.id == ident:
                return c
        for c in self.defs.campaigns:
            if c.name == ident:
                return c
        return None

    def voucher(self, ident: str) -> m.Voucher | None:
        for v in self.defs.vouchers:
            if v.code == ident or v.id == ident:
                return v
        return None

    def tier(self, tier_id: str) -> tuple[m.Campaign, m.PromotionTier] | None:
        for c in self.defs.campaigns:
            if c.promotion is not None:
                for t in c.promotion.tiers:
                    if t.id == tier_id:
                        return c, t
        return None

    def rule(self, rule_id: str) -> m.ValidationRule | None:
        for r in self.defs.validation_rules:
            if r.id == rule_id:
                return r
        return None

    def product(self, ident: str) -> m.Product | None:
        for p in self.defs.products:
            if p.id == ident:
                return p
        for p in self.defs.products:
            if p.source_id == ident:
                return p
        return None

    def sku(self, ident: str) -> tuple[m.Product, m.Sku] | None:
        for p in self.defs.products:
            for s in p.skus:
                if s.id == ident or s.source_id == ident:
                    return p, s
        return None

    def codes(self) -> set[str]:
        return {v.code for v in self.defs.vouchers}

    def touch(self, kind: str, ident: str, now: int, created: bool = False) -> None:
        key = f"{kind}:{ident}"
        t = self.meta.times.get(key)
        if created or t is None:
            self.meta.times[key] = [now, now]
        else:
            t[1] = now

    def times(self, kind: str, ident: str) -> list[int] | None:
        return self.meta.times.get(f"{kind}:{ident}")


class Outcome(msgspec.Struct, kw_only=True):
    """What a change function returns to :meth:`Repo.mutate`."""

    result: Any = None
    changes: list[audit.Change] = []
    #: extra writes queued inside the same MULTI (called with the pipeline)
    extra: Callable[[Any], None] | None = None
    #: False: nothing to write (e.g. enabling an enabled campaign)
    write: bool = True


_PATH = re.compile(
    r"^(campaigns|vouchers|validation_rules|products"
    r"|earning_rules|loyalty_tiers|rewards|reward_assignments)\[(\d+)\]"
)


def _name_path(defs: m.Definitions, exc: CompileError) -> CompileError:
    """``campaigns[3].x`` -> ``campaigns[camp_123].x``: name the object, not its position."""
    mt = _PATH.match(exc.path)
    if not mt:
        return exc
    coll, idx = mt.group(1), int(mt.group(2))
    items = getattr(defs, coll)
    if idx < len(items):
        obj = items[idx]
        ident = getattr(obj, "id", None) or getattr(obj, "code", None)
        return CompileError(f"{coll}[{ident}]" + exc.path[mt.end() :], exc.reason)
    return exc


def compile_defs(defs: m.Definitions) -> Any:
    """Validate (msgspec round trip) and compile, the checkout ruleset and the loyalty part
    (programs, earning rules, tiers, rewards, assignments: ``core.earning``); ApiError 400
    naming the field if either fails. Returns the checkout ruleset."""
    try:
        # re-validate: structs mutated in place skip __post_init__ checks
        checked = msgspec.convert(msgspec.to_builtins(defs), m.Definitions)
    except msgspec.ValidationError as exc:
        raise from_validation(exc, "definitions") from None
    try:
        rs = E.compile_ruleset(checked)
        earning.compile_earning(checked)
    except CompileError as exc:
        raise from_compile(_name_path(checked, exc)) from None
    return rs


def _checked_meta(meta: Meta) -> bytes:
    """The metadata document, encoded, once it is known to decode again: a value of the wrong
    type stored there would make every later read of the document fail."""
    raw = _enc.encode(meta)
    try:
        _meta_dec.decode(raw)
    except msgspec.ValidationError as exc:
        raise from_validation(exc, "admin_metadata") from None
    return raw


def _checked_voucher(new: m.Voucher, rs: Any) -> m.Voucher:
    """A code kept outside the document, validated and compiled against ``rs`` (400 naming
    the field if it does not)."""
    checked = convert(msgspec.to_builtins(new), m.Voucher, "voucher")
    try:
        E.holder_for_voucher(rs, checked)
    except CompileError as exc:
        raise from_compile(exc) from None
    return checked


def new_stamp() -> str:
    """A value for ``Padmin:defs_stamp``, written with every admin write of the document."""
    return secrets.token_hex(12)


class Repo:
    def __init__(self, redis: Any, keys: Keys, clock: Callable[[], int]) -> None:
        self.r = redis
        self.k = keys
        self.clock = clock
        self._cache: tuple[tuple[int, str], State] | None = None
        self._rs: tuple[tuple[int, str], Any] | None = None

    # -- reads -----------------------------------------------------------------------------

    @staticmethod
    def _decode(version: bytes | None, doc: bytes | None, meta: bytes | None) -> State:
        defs = _defs_dec.decode(doc) if doc else m.Definitions()
        md = _meta_dec.decode(meta) if meta else Meta()
        return State(defs, md, int(version or 0))

    async def state(self) -> State:
        """A read-only snapshot (shared between requests: do not modify it)."""
        draft = _DRAFT.get()
        if draft is not None:
            return draft.st
        v, stamp = await self.r.mget(self.k.version, self.k.defs_stamp)
        key = None if stamp is None else (int(v or 0), stamp.decode())
        if key is not None and self._cache is not None and self._cache[0] == key:
            return self._cache[1]
        v, stamp, doc, meta = await self.r.mget(
            self.k.version, self.k.defs_stamp, self.k.defs, self.k.meta
        )
        st = self._decode(v, doc, meta)
        st.stamp = stamp.decode() if stamp is not None else None
        if st.cache_key is not None:
            self._cache = (st.cache_key, st)
        return st

    async def ruleset(self) -> tuple[State, Any]:
        draft = _DRAFT.get()
        if draft is not None:
            return draft.st, draft.rs
        st = await self.state()
        key = st.cache_key
        if key is not None and self._rs is not None and self._rs[0] == key:
            return st, self._rs[1]
        rs = await asyncio.to_thread(compile_defs, st.defs)
        if key is not None:
            self._rs = (key, rs)
        return st, rs

    async def code(self, code: str) -> m.Voucher | None:
        draft = _DRAFT.get()
        if draft is not None and code in draft.codes:
            return draft.codes[code]
        raw = await codebook.read_one(self.r, self.k, code)
        return _voucher_dec.decode(raw) if raw else None

    async def draft(self) -> Draft:
        """A private copy of the published document, compiled, for :func:`dry_run`."""
        v, stamp, doc, meta = await self.r.mget(
            self.k.version, self.k.defs_stamp, self.k.defs, self.k.meta
        )
        st = self._decode(v, doc, meta)
        _st, rs = await self.ruleset()
        if _st.version != st.version:
            rs = await asyncio.to_thread(compile_defs, st.defs)
        return Draft(st, rs)

    async def _dry(self, draft: Draft, fn: Callable[[State], Outcome], watch: list[str]) -> None:
        """:meth:`mutate` on the draft: a fresh copy, the change, validation and compilation;
        the draft becomes the result and :class:`DryRun` is raised (nothing written)."""
        st = self._decode(
            str(draft.st.version).encode(), _enc.encode(draft.st.defs), _enc.encode(draft.st.meta)
        )
        st.watched = dict(zip(watch, await codebook.read(self.r, self.k, watch), strict=True))
        out = fn(st)
        if not out.write:
            raise DryRun(out.result, [])
        rs = compile_defs(st.defs)
        _checked_meta(st.meta)
        draft.st, draft.rs = st, rs
        draft.changes.extend(out.changes)
        raise DryRun(out.result, list(out.changes))

    # -- writes ----------------------------------------------------------------------------

    async def mutate(
        self,
        actor: audit.Actor,
        rid: str,
        fn: Callable[[State], Outcome],
        watch: Iterable[str] = (),
    ) -> Any:
        """Apply ``fn`` to the document and publish the result, re-applied when anything watched
        moved meanwhile. ``watch``: codes kept outside the document whose records ``fn`` reads
        (``State.watched``: code -> record or None) or whose writes must not interleave."""
        watch = list(watch)
        draft = _DRAFT.get()
        if draft is not None:
            await self._dry(draft, fn, watch)
        buckets = codebook.buckets(self.k, watch)
        for _ in range(MAX_RETRIES):
            async with self.r.pipeline(transaction=True) as pipe:
                try:
                    await pipe.watch(self.k.version, *buckets)
                    v, doc, meta = await pipe.mget(self.k.version, self.k.defs, self.k.meta)
                    # read after WATCH (on another connection): a change meanwhile aborts EXEC
                    watched = dict(zip(watch, await codebook.read(self.r, self.k, watch), strict=True))
                    st = self._decode(v, doc, meta)
                    st.watched = watched
                    out = fn(st)
                    if not out.write:
                        await pipe.unwatch()
                        return out.result
                    rs = await asyncio.to_thread(compile_defs, st.defs)
                    meta_doc = _checked_meta(st.meta)
                    version = st.version + 1
                    stamp = new_stamp()
                    now = self.clock()
                    pipe.multi()
                    pipe.set(self.k.version, version)
                    pipe.set(self.k.defs_stamp, stamp)
                    pipe.set(
                        self.k.defs, _enc.encode(msgspec.structs.replace(st.defs, version=version))
                    )
                    pipe.set(self.k.meta, meta_doc)
                    if out.extra is not None:
                        out.extra(pipe)
                    for ch in out.changes:
                        audit.add(pipe, self.k.audit, actor, ch, now, rid)
                    pipe.publish(self.k.channel, str(version))
                    await pipe.execute()
                except WatchError:
                    continue
            st.defs = msgspec.structs.replace(st.defs, version=version)
            st.version = version
            st.stamp = stamp
            st.watched = {}
            self._cache = ((version, stamp), st)
            self._rs = ((version, stamp), rs)
            return out.result
        raise ApiError(409, "multiple_requests", "Too many concurrent changes", "Please retry")

    async def mutate_code(
        self,
        actor: audit.Actor,
        rid: str,
        code: str,
        fn: Callable[[m.Voucher, State], tuple[m.Voucher, Any, list[audit.Change]]],
    ) -> Any:
        """Change a code kept outside the document (in its bucket); 404 if absent."""
        draft = _DRAFT.get()
        if draft is not None:
            cur = await self.code(code)
            if cur is None:
                return None
            new, result, changes = fn(cur, draft.st)
            checked = _checked_voucher(new, draft.rs)
            draft.codes[code] = checked
            draft.changes.extend(changes)
            raise DryRun(result, list(changes))
        buckets = self.k.code_buckets(code)
        for _ in range(MAX_RETRIES):
            st, rs = await self.ruleset()
            async with self.r.pipeline(transaction=True) as pipe:
                try:
                    await pipe.watch(*buckets, self.k.version)
                    # read after WATCH (on another connection): a change meanwhile aborts EXEC
                    raw = await codebook.read_one(self.r, self.k, code)
                    if int(await pipe.get(self.k.version) or 0) != st.version:
                        continue
                    if raw is None:
                        return None
                    cur = _voucher_dec.decode(raw)
                    new, result, changes = fn(cur, st)
                    checked = _checked_voucher(new, rs)
                    now = self.clock()
                    pipe.multi()
                    codebook.put(pipe, self.k, code, checked)
                    for ch in changes:
                        audit.add(pipe, self.k.audit, actor, ch, now, rid)
                    pipe.publish(self.k.channel, "code:" + code)
                    await pipe.execute()
                    return result
                except WatchError:
                    continue
        raise ApiError(409, "multiple_requests", "Too many concurrent changes", "Please retry")

    async def record(
        self,
        actor: audit.Actor,
        rid: str,
        changes: list[audit.Change],
        extra: Callable[[Any], None],
    ) -> None:
        """Writes outside the document (customers, keys...) with their audit entries, atomically.
        Under :func:`dry_run` nothing is written: :class:`DryRun` with the changes."""
        draft = _DRAFT.get()
        if draft is not None:
            draft.changes.extend(changes)
            raise DryRun(None, list(changes))
        now = self.clock()
        async with self.r.pipeline(transaction=True) as pipe:
            extra(pipe)
            for ch in changes:
                audit.add(pipe, self.k.audit, actor, ch, now, rid)
            await pipe.execute()
