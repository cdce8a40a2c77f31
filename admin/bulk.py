"""Bulk code actions: enable, disable, extend the expiration of, or delete a list of codes.

``POST /v1/vouchers/bulk`` (admin/routes_bulk.py) takes the codes (a JSON list or a CSV with a
``code`` column) and an action. A dry run (``dry_run``) answers how many codes exist, how many
would change, how many are unknown and how many would be refused, writing nothing. Otherwise:

- the codes kept in the definitions document (created one by one: a few) change at once, in
  one :meth:`admin.repo.Repo.mutate` (compiled, published as a new version, each code audited),
  and the same transaction creates the async action (``VOUCHERS.BULK_UPDATE``) with the other
  codes waiting in ``Paction:<id>:rows``;
- the action changes the codes kept outside the document (their buckets, store/codebook.py) chunk by chunk:
  each chunk is one transaction that WATCHes its codes and the definitions version, writes the
  changed codes, one audit entry and one ``code:<CODE>`` notice each (what the single-code
  routes send: the gateways drop their cached copy, so a disabled code is refused at once), its
  per-row results (``Paction:<id>:results``, CSV lines), the outcome counts, and removes the
  chunk from the rows. A restarted admin resumes exactly at the next chunk.

Every code gets one result row: ``code, outcome, reason`` with outcome ``changed``,
``unchanged`` (already in that state), ``not_found`` or ``refused`` (the change does not
validate, or ``extend`` would shorten the code's life).

``extend`` sets the code's own ``expiration_date`` to the date given (a ``YYYY-MM-DD`` date
means the end of that day, UTC); it never brings an expiration forward.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections import Counter
from collections.abc import AsyncIterator, Callable
from typing import Any

import msgspec
from redis.exceptions import WatchError

from core import model as m
from store import codebook
from store.keys import Keys

from . import actions as act
from . import audit
from .codes import iter_chunks
from .errors import ApiError, invalid
from .repo import MAX_RETRIES, _checked_voucher, compile_defs

BULK = "VOUCHERS.BULK_UPDATE"
#: each action and the permission it needs (admin.auth)
ACTIONS = {"enable": "code_state", "disable": "code_state", "extend": "write", "delete": "write"}
OUTCOMES = ("changed", "unchanged", "not_found", "refused")
MAX_CODES = 1_000_000
MAX_CODE = 100
CHUNK = 1000
RESULT_COLUMNS = ("code", "outcome", "reason")

_voucher_dec = msgspec.json.Decoder(m.Voucher)


# ------------------------------------------------------------------------------- input


def _line(values: tuple[str, ...] | list[str]) -> bytes:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow(values)
    return buf.getvalue().encode()


def _kept(codes: list[str]) -> list[str]:
    """The codes once each, in order; 400 if there are none or too many."""
    out = list(dict.fromkeys(codes))
    if not out:
        raise invalid("no codes given: send `codes` (a list) or a CSV with a `code` column")
    if len(out) > MAX_CODES:
        raise invalid(f"at most {MAX_CODES:,} codes per bulk action, got {len(out):,}")
    return out


def codes_from_csv(text: str) -> list[str]:
    """The ``code`` column of a CSV with a header line (any other column is ignored: an
    export of codes uploads as it is); 400 naming the line of a bad row."""
    reader = csv.reader(io.StringIO(text))
    try:
        header = [h.strip().lower() for h in next(reader, [])]
        if "code" not in header:
            raise invalid("the CSV header needs a `code` column")
        col = header.index("code")
        codes = []
        for row in reader:
            code = row[col].strip() if col < len(row) else ""
            if not code:
                continue
            if len(code) > MAX_CODE:
                raise invalid(f"line {reader.line_num}: a code has at most {MAX_CODE} characters")
            codes.append(code)
    except csv.Error as exc:
        raise invalid(f"line {reader.line_num}: the CSV cannot be read: {exc}") from None
    return _kept(codes)


def codes_from_json(raw: Any) -> list[str]:
    """``codes``: a list of codes, or of ``{"code": ...}`` objects (Voucherify's bulk shape)."""
    if not isinstance(raw, list):
        raise invalid("`codes` must be a list of codes")
    codes = []
    for i, item in enumerate(raw):
        code = item.get("code") if isinstance(item, dict) else item
        if not isinstance(code, str) or not code.strip() or len(code) > MAX_CODE:
            raise invalid(f"`codes[{i}]` must be a code (1 to {MAX_CODE} characters)")
        codes.append(code.strip())
    return _kept(codes)


def parse_action(action: Any) -> str:
    if not isinstance(action, str) or action not in ACTIONS:
        raise invalid("`action` must be one of " + ", ".join(ACTIONS))
    return str(action)


def parse_expiration(action: str, value: Any) -> dt.datetime | None:
    """``expiration_date`` for ``extend`` (required): an ISO 8601 datetime, or a date meaning
    the end of that day (UTC)."""
    if action != "extend":
        return None
    if not isinstance(value, str) or not value.strip():
        raise invalid("`expiration_date` is required to extend codes (ISO 8601 date or datetime)")
    text = value.strip()
    try:
        if len(text) == 10:
            day = dt.date.fromisoformat(text)
            return dt.datetime(day.year, day.month, day.day, 23, 59, 59, tzinfo=dt.UTC)
        d = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise invalid(
            f"`expiration_date` must be an ISO 8601 date or datetime, got {text!r:.40}"
        ) from None
    return d if d.tzinfo is not None else d.replace(tzinfo=dt.UTC)


# ------------------------------------------------------------------------------- decisions


class Plan(msgspec.Struct, frozen=True):
    """What to do, and as whom (kept in the action's params)."""

    action: str
    expiration_date: str | None = None

    @property
    def expiration(self) -> dt.datetime | None:
        return dt.datetime.fromisoformat(self.expiration_date) if self.expiration_date else None


def decide(plan: Plan, v: m.Voucher | None, rs: Any) -> tuple[str, str, m.Voucher | None]:
    """``(outcome, reason, new voucher)`` of one code (new voucher None: deleted)."""
    if v is None:
        return "not_found", "no such code", None
    if plan.action == "delete":
        return "changed", "deleted", None
    if plan.action in ("enable", "disable"):
        want = plan.action == "enable"
        if v.active is want:
            return "unchanged", f"already {plan.action}d", v
        new = msgspec.structs.replace(v, active=want)
    else:
        exp = plan.expiration
        assert exp is not None
        cur = v.expiration_date
        if cur is not None and cur.tzinfo is None:
            cur = cur.replace(tzinfo=dt.UTC)
        if cur == exp:
            return "unchanged", "already expires then", v
        if cur is not None and cur > exp:
            return "refused", f"expires later already ({cur.isoformat()})", v
        new = msgspec.structs.replace(v, expiration_date=exp)
    try:
        return "changed", "", _checked_voucher(new, rs)
    except ApiError as exc:
        return "refused", exc.details, v


def _verb(plan: Plan) -> str:
    return "voucher." + plan.action


def change_entry(plan: Plan, before: m.Voucher, after: m.Voucher | None) -> audit.Change:
    return audit.Change(action=_verb(plan), object_type="voucher", object_id=before.code,
                        before=before, after=after)  # fmt: skip


def result_line(code: str, outcome: str, reason: str) -> bytes:
    return _line([code, outcome, reason])


async def dry_count(
    redis: Any, k: Keys, doc: dict[str, m.Voucher], rs: Any, plan: Plan, codes: list[str]
) -> dict[str, Any]:
    """How many of ``codes`` exist, would change, are unknown, would be refused: the decisions
    the action would make now (one MGET per chunk of codes kept outside the document)."""
    counts: Counter[str] = Counter()
    for chunk in iter_chunks(codes, CHUNK):
        for _code, v in await _read(redis, k, doc, chunk):
            counts[decide(plan, v, rs)[0]] += 1
    return {
        "object": "bulk_dry_run",
        "action": plan.action,
        "total": len(codes),
        "found": len(codes) - counts["not_found"],
        "would_change": counts["changed"],
        "unchanged": counts["unchanged"],
        "not_found": counts["not_found"],
        "refused": counts["refused"],
    }


async def _read(
    redis: Any, k: Keys, doc: dict[str, m.Voucher], chunk: list[str]
) -> list[tuple[str, m.Voucher | None]]:
    outside = [c for c in chunk if c not in doc]
    raws = (
        dict(zip(outside, await codebook.read(redis, k, outside), strict=True))
        if outside
        else {}
    )
    return [
        (c, doc.get(c) or (_voucher_dec.decode(raws[c]) if raws.get(c) else None)) for c in chunk
    ]


# ------------------------------------------------------------------------------- the action


def rows_key(k: Keys, action_id: str) -> str:
    return k.action(action_id) + ":rows"


def results_key(k: Keys, action_id: str) -> str:
    return k.action(action_id) + ":results"


def queue_action(
    pipe: Any, k: Keys, action_id: str, codes: list[str], done: list[tuple[str, str, str]],
    counts: Counter[str], params: dict[str, Any], now: int,
) -> None:  # fmt: skip
    """Queue on ``pipe`` the action of ``codes`` (those left to do), with the results of the
    codes already done (``done``: code, outcome, reason) and their counts."""
    total = len(codes) + len(done)
    act.queue_create(pipe, k, action_id, BULK, total, params, now)
    for part in iter_chunks(codes, 5000):
        pipe.rpush(rows_key(k, action_id), *part)
    for part in iter_chunks(done, 5000):
        pipe.rpush(results_key(k, action_id), *[result_line(*r) for r in part])
    pipe.hset(
        k.action(action_id),
        mapping={o: str(counts[o]) for o in OUTCOMES} | {"processed": str(len(done))},
    )


class _Chunk:
    """One chunk of the action's codes, decided and written in one WATCHed transaction."""

    def __init__(self, client: Any, k: Keys, action_id: str, plan: Plan, actor: audit.Actor,
                 rid: str, clock: Callable[[], int]) -> None:  # fmt: skip
        self.r, self.k, self.aid, self.plan = client, k, action_id, plan
        self.actor, self.rid, self.clock = actor, rid, clock
        self._rs: tuple[int, Any] | None = None

    def ruleset(self, pipe: Any, version: int) -> Any:
        if self._rs is None or self._rs[0] != version:
            raw = pipe.get(self.k.defs)
            defs = msgspec.json.decode(raw, type=m.Definitions) if raw else m.Definitions()
            self._rs = (version, compile_defs(defs))
        return self._rs[1]

    def run(self) -> int:
        """Decide and write the next chunk; how many codes it held (0: none left)."""
        codes = [c.decode() for c in self.r.lrange(rows_key(self.k, self.aid), 0, CHUNK - 1)]
        if not codes:
            return 0
        buckets = codebook.buckets(self.k, codes)
        for _ in range(MAX_RETRIES):
            with self.r.pipeline(transaction=True) as pipe:
                try:
                    pipe.watch(self.k.version, *buckets)
                    rs = self.ruleset(pipe, int(pipe.get(self.k.version) or 0))
                    raws = codebook.read_sync(self.r, self.k, codes)  # after WATCH: a change aborts EXEC
                    pipe.multi()
                    self._write(pipe, codes, raws, rs)
                    pipe.execute()
                    return len(codes)
                except WatchError:
                    continue
        raise RuntimeError("the codes kept changing: too many concurrent changes")

    def _write(self, pipe: Any, codes: list[str], raws: list[bytes | None], rs: Any) -> None:
        counts: Counter[str] = Counter()
        lines = []
        now = self.clock()
        for code, raw in zip(codes, raws, strict=True):
            v = _voucher_dec.decode(raw) if raw else None
            outcome, reason, new = decide(self.plan, v, rs)
            counts[outcome] += 1
            lines.append(result_line(code, outcome, reason))
            if outcome != "changed" or v is None:
                continue
            if new is None:
                self._delete(pipe, v)
            else:
                codebook.put(pipe, self.k, code, new)
            audit.add(
                pipe, self.k.audit, self.actor, change_entry(self.plan, v, new), now, self.rid
            )
            pipe.publish(self.k.channel, "code:" + code)
        key = self.k.action(self.aid)
        pipe.rpush(results_key(self.k, self.aid), *lines)
        pipe.ltrim(rows_key(self.k, self.aid), len(codes), -1)
        for o, n in counts.items():
            pipe.hincrby(key, o, n)

    def _delete(self, pipe: Any, v: m.Voucher) -> None:
        """What ``DELETE /v1/vouchers/{code}`` writes for a code kept outside the document."""
        codebook.drop(pipe, self.k, v.code)
        if v.campaign_id:
            pipe.lrem(self.k.list_codes(v.campaign_id), 1, v.code)
        if v.customer_id:
            pipe.srem(self.k.customer_codes(v.customer_id), v.code)


def register_bulk(admin: Any) -> None:
    """The ``VOUCHERS.BULK_UPDATE`` action on ``admin``'s runner (resumable: every chunk is
    one transaction that also consumes its rows)."""
    k: Keys = admin.keys
    runner = admin.runner

    def handler(
        client: Any, action_id: str, params: dict[str, Any], h: dict[str, str]
    ) -> dict[str, Any]:
        plan = msgspec.convert(params["plan"], Plan)
        actor = audit.Actor(*params["actor"])
        chunk = _Chunk(client, k, action_id, plan, actor, params.get("request_id", ""), admin.clock)
        total = int(h.get("total", "0"))
        report = runner.progress(client, action_id)
        while chunk.run():
            report(total - int(client.llen(rows_key(k, action_id))), total)
        counts = client.hmget(k.action(action_id), *OUTCOMES)
        out: dict[str, Any] = {"message": f"{plan.action}: {total} codes handled", "action": plan.action,
                               "count": total}  # fmt: skip
        out.update({o: int(n or 0) for o, n in zip(OUTCOMES, counts, strict=True)})
        out["results_csv"] = f"/v1/vouchers/bulk/{action_id}/results"
        return out

    runner.register(BULK, handler)


async def results_csv(redis: Any, k: Keys, action_id: str) -> AsyncIterator[bytes]:
    """The per-row result file: header, then one line per code, as the action wrote them."""
    yield _line(RESULT_COLUMNS)
    start = 0
    while True:
        part = await redis.lrange(results_key(k, action_id), start, start + 4999)
        if not part:
            return
        yield b"".join(part)
        start += len(part)
