"""Files in and out: codes as CSV, all definitions as NDJSON (export / import round trip).

Codes CSV (``GET /v1/exports/vouchers.csv``, ``POST /v1/campaigns/{id}/importCSV``): one code
a line, header first. Columns written by the export: ``code, campaign_id, active, category,
customer_id, redemption_quantity, redemption_per_customer, gift_amount, loyalty_points,
start_date, expiration_date, metadata`` (JSON) and the live figures ``redeemed_quantity,
gift_balance, loyalty_balance``. The import reads the same header names (case-insensitive,
spaces allowed for underscores, ``Code`` alone suffices) and ignores the live figures and
``campaign_id`` (the codes join the campaign of the URL), so an export imports back as is.

Definitions NDJSON (``GET /v1/definitions/export``, ``POST /v1/definitions/import``,
``python -m admin export|import FILE``): the first line is
``{"format": "promogate-definitions", "format_version": 1, "definitions": ..., "meta": ...}``;
each further line is ``{"kind": "code", "voucher": {...}}``, ``{"kind": "customer", ...}`` or
``{"kind": "segment", ...}``. API keys, counters and the ledger are not definitions: they are
not exported. An import goes into an empty instance only (no definitions, codes, customers).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import AsyncIterator, Callable, Iterable
from typing import Any

import msgspec
import orjson
from redis.exceptions import WatchError

import core
from core import model as m
from core.errors import CompileError
from store import codebook
from store.keys import Keys

from . import actions as act
from . import audit
from .codes import SETNX_SCRIPT, store_codes
from .errors import ApiError, from_compile, invalid
from .repo import Meta, compile_defs, new_stamp
from .reports import campaign_codes, counters_for
from .shapes import dt_out

FORMAT = "promogate-definitions"
CSV_COLUMNS = [
    "code", "campaign_id", "active", "category", "customer_id", "redemption_quantity",
    "redemption_per_customer", "gift_amount", "loyalty_points", "start_date", "expiration_date",
    "metadata", "redeemed_quantity", "gift_balance", "loyalty_balance",
]  # fmt: skip
_ALIASES = {
    "customer": "customer_id",
    "holder_id": "customer_id",
    "redemption_limit": "redemption_quantity",
    "quantity": "redemption_quantity",
    "gift": "gift_amount",
    "points": "loyalty_points",
}
_voucher_dec = msgspec.json.Decoder(m.Voucher)
_enc = msgspec.json.Encoder()


def _line(values: Iterable[Any]) -> bytes:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow(["" if v is None else v for v in values])
    return buf.getvalue().encode()


async def vouchers_csv(
    redis: Any, k: Keys, defs: m.Definitions, campaigns: list[m.Campaign]
) -> AsyncIterator[bytes]:
    yield _line(CSV_COLUMNS)
    for camp in campaigns:
        tpl = camp.voucher
        async for chunk in campaign_codes(redis, k, camp.id, defs):
            counters = await counters_for(redis, k, chunk)
            out = []
            for v, (uses, spent, points) in zip(chunk, counters, strict=True):
                red = v.redemption
                gift = v.gift or (tpl.gift if tpl else None)
                lc = v.loyalty_card or (tpl.loyalty_card if tpl else None)
                out.append(
                    _line(
                        [
                            v.code,
                            v.campaign_id,
                            "true" if v.active else "false",
                            v.category,
                            v.customer_id,
                            red.quantity if red else None,
                            red.per_customer if red else None,
                            v.gift.amount if v.gift else None,
                            v.loyalty_card.points if v.loyalty_card else None,
                            dt_out(v.start_date),
                            dt_out(v.expiration_date),
                            json.dumps(v.metadata, separators=(",", ":")) if v.metadata else None,
                            uses,
                            max(0, gift.amount - spent) if gift else None,
                            max(0, lc.points - points) if lc else None,
                        ]  # fmt: skip
                    )
                )
            yield b"".join(out)


def _norm(h: str) -> str:
    h = h.strip().lower().replace(" ", "_").replace("-", "_")
    return _ALIASES.get(h, h)


def parse_codes_csv(text: str, campaign_id: str) -> list[m.Voucher]:
    """Every row as a Voucher of ``campaign_id``; 400 naming the line and column if one is bad."""
    reader = csv.reader(io.StringIO(text))
    try:
        return _parse_codes(reader, campaign_id)
    except csv.Error as exc:  # e.g. a bare carriage return inside a field
        raise invalid(f"line {reader.line_num}: the CSV cannot be read: {exc}") from None


def _parse_codes(reader: Any, campaign_id: str) -> list[m.Voucher]:
    try:
        header = [_norm(h) for h in next(reader)]
    except StopIteration:
        raise invalid("the CSV file is empty") from None
    if "code" not in header:
        raise invalid("the CSV header needs a `code` column")
    out: list[m.Voucher] = []
    seen: set[str] = set()
    for n, row in enumerate(reader, start=2):
        if not any(x.strip() for x in row):
            continue
        rec = dict(zip(header, row, strict=False))
        d: dict[str, Any] = {"code": rec.get("code", "").strip(), "campaign_id": campaign_id}
        try:
            if rec.get("active", "").strip():
                d["active"] = rec["active"].strip().lower() in ("true", "1", "yes")
            for col, key in (("category", "category"), ("customer_id", "customer_id")):
                if rec.get(col, "").strip():
                    d[key] = rec[col].strip()
            red = {}
            for col, key in (
                ("redemption_quantity", "quantity"),
                ("redemption_per_customer", "per_customer"),
            ):
                if rec.get(col, "").strip():
                    red[key] = int(rec[col])
            if red:
                d["redemption"] = red
            if rec.get("gift_amount", "").strip():
                d["gift"] = {"amount": int(rec["gift_amount"])}
            if rec.get("loyalty_points", "").strip():
                d["loyalty_card"] = {"points": int(rec["loyalty_points"])}
            for col in ("start_date", "expiration_date"):
                if rec.get(col, "").strip():
                    d[col] = rec[col].strip()
            md = orjson.loads(rec["metadata"]) if rec.get("metadata", "").strip() else {}
            if not isinstance(md, dict):
                raise ValueError("`metadata` must be a JSON object")
            for col, val in rec.items():
                if col.startswith("metadata.") and val != "":
                    md[col[9:]] = val
            if md:
                d["metadata"] = md
        except (ValueError, orjson.JSONDecodeError) as exc:
            raise invalid(f"line {n}: {exc}") from None
        try:
            v = msgspec.convert(d, m.Voucher)
        except msgspec.ValidationError as exc:
            raise invalid(f"line {n}: {str(exc).replace('`$.', '`')}") from None
        if v.code in seen:
            raise invalid(f"line {n}: code {v.code!r} appears twice in the file")
        seen.add(v.code)
        out.append(v)
    return out


def check_codes(rs: Any, vouchers: list[m.Voucher], doc_codes: set[str]) -> None:
    for i, v in enumerate(vouchers):
        if v.code in doc_codes:
            raise ApiError(409, "duplicate_found", "Duplicated resource found", f"line {i + 2}: code {v.code} already exists",
                           resource_id=v.code, resource_type="voucher")  # fmt: skip
        try:
            core.engine.holder_for_voucher(rs, v)
        except CompileError as exc:
            raise from_compile(CompileError(f"line {i + 2}.{exc.path}", exc.reason)) from None


def register_import(admin: Any) -> None:
    """The CSV import action: rows wait in ``Paction:<id>:rows`` and are stored chunk by chunk
    where none is (a code that exists already is reported, never overwritten)."""
    k: Keys = admin.keys
    runner = admin.runner

    def handler(
        client: Any, action_id: str, params: dict[str, Any], h: dict[str, str]
    ) -> dict[str, Any]:
        rows_key = k.action(action_id) + ":rows"
        campaign_id = params["campaign_id"]
        script = client.register_script(SETNX_SCRIPT)
        total = int(h.get("total", "0"))
        done = int(h.get("processed", "0"))
        dups: list[str] = list(orjson.loads(client.hget(k.action(action_id), "dups") or b"[]"))
        report = runner.progress(client, action_id)
        # codes created one by one live in the document: a code is unique across both (the
        # same check as admin.codes.Generator: before storing, and again if the version moved)
        doc, version = admin._doc_codes_sync(client)
        codebook.ref_sync(client, k, campaign_id)  # its codes' compact form names it by it
        while True:
            raw = client.lrange(rows_key, 0, 4999)
            if not raw:
                break
            rows = [(x, _voucher_dec.decode(x)) for x in raw]
            taken = [v.code for _, v in rows if v.code in doc]
            rows = [(x, v) for x, v in rows if v.code not in doc]
            found = (
                [rows[i][1].code for i in store_codes(script, k, campaign_id, [v.code for _, v in rows],
                                                       [codebook.pack(v.code, x, k) for x, v in rows], k.action(action_id))]  # fmt: skip
                if rows
                else []
            )
            existing = set(found)
            stored = [v for _, v in rows if v.code not in existing]
            if int(client.get(k.version) or 0) != version:
                doc, version = admin._doc_codes_sync(client)
                late = {v.code for v in stored if v.code in doc}
                if late:
                    for c in late:
                        codebook.drop(client, k, c)
                        client.lrem(k.list_codes(campaign_id), 1, c)
                    client.hincrby(k.action(action_id), "stored", -len(late))
                    taken += sorted(late)
                    stored = [v for v in stored if v.code not in late]
            dups.extend(taken)
            dups.extend(found)
            pipe = client.pipeline(transaction=True)
            pipe.ltrim(rows_key, len(raw), -1)
            for v in stored:
                if v.customer_id:
                    pipe.sadd(k.customer_codes(v.customer_id), v.code)
                pipe.publish(k.channel, "code:" + v.code)
            pipe.hset(k.action(action_id), "dups", orjson.dumps(dups[:1000]))
            pipe.execute()
            done += len(raw)
            report(done, total)
        return {
            "message": f"{done - len(dups)} vouchers imported",
            "campaign_id": campaign_id,
            "count": done - len(dups),
            "failed": [{"code": c, "reason": "duplicate_found"} for c in dups[:1000]],
            "failed_count": len(dups),
        }

    runner.register(act.IMPORT, handler)


# ------------------------------------------------------------------------------ definitions


async def export_ndjson(redis: Any, k: Keys, at_ms: int) -> AsyncIterator[bytes]:
    v, doc, meta = await redis.mget(k.version, k.defs, k.meta)
    defs = msgspec.json.decode(doc, type=m.Definitions) if doc else m.Definitions()
    head = {
        "format": FORMAT,
        "format_version": 1,
        "exported_at": at_ms,
        "source_version": int(v or 0),
        "definitions": msgspec.to_builtins(defs),
        "meta": orjson.loads(meta) if meta else {},
    }
    yield orjson.dumps(head) + b"\n"
    for camp in defs.campaigns:
        lst = k.list_codes(camp.id)
        start = 0
        while True:
            codes = await redis.lrange(lst, start, start + 4999)
            if not codes:
                break
            raws = await codebook.read(redis, k, [c.decode() for c in codes])
            yield b"".join(b'{"kind":"code","voucher":' + r + b"}\n" for r in raws if r)
            start += len(codes)
    ids = await redis.zrange(k.customers, 0, -1, withscores=True)
    for i in range(0, len(ids), 1000):
        part = ids[i : i + 1000]
        raws = await redis.mget([k.customer(x.decode()) for x, _ in part])
        yield b"".join(b'{"kind":"customer","customer":' + r + b"}\n" for r in raws if r)
    segs = await redis.zrange(k.segments, 0, -1)
    if segs:
        raws = await redis.mget([k.segment(x.decode()) for x in segs])
        yield b"".join(b'{"kind":"segment","segment":' + r + b"}\n" for r in raws if r)


async def is_empty(redis: Any, k: Keys) -> bool:
    doc = await redis.get(k.defs)
    if doc:
        d = msgspec.json.decode(doc, type=m.Definitions)
        if d.campaigns or d.vouchers or d.validation_rules or d.products:
            return False
    return not await redis.zcard(k.customers)


async def import_ndjson(
    redis: Any,
    k: Keys,
    lines: Callable[[], AsyncIterator[bytes]],
    actor: audit.Actor,
    rid: str,
    now: int,
) -> dict[str, Any]:
    """Load an export into an empty instance. ``lines()`` gives the file's lines, afresh each
    call: a first pass checks everything (the definitions compile, every code resolves against
    them), a second one writes, so a bad file writes nothing. Returns counts."""
    if not await is_empty(redis, k):
        raise ApiError(409, "not_empty", "Instance not empty",
                       "import goes into an empty instance: this one has definitions or customers")  # fmt: skip
    head, defs, meta, counts = await _check_file(lines())
    async with redis.pipeline(transaction=True) as pipe:
        await pipe.watch(k.version, k.defs, k.customers)
        if not await is_empty(pipe, k):
            raise ApiError(409, "not_empty", "Instance not empty",
                           "import goes into an empty instance: this one has definitions or customers")  # fmt: skip
        version = int(await pipe.get(k.version) or 0) + 1
        pipe.multi()
        pipe.set(k.version, version)
        pipe.set(k.defs_stamp, new_stamp())
        pipe.set(k.defs, _enc.encode(msgspec.structs.replace(defs, version=version)))
        pipe.set(k.meta, _enc.encode(meta))
        audit.add(pipe, k.audit, actor, audit.Change(action="definitions.import", object_type="definitions",
                  object_id="project", after={**counts, "source_version": head.get("source_version")}), now, rid)  # fmt: skip
        pipe.publish(k.channel, str(version))
        try:
            await pipe.execute()
        except WatchError:
            raise ApiError(409, "not_empty", "Instance not empty",
                           "the instance changed while the file was being checked") from None  # fmt: skip
    pending: list[tuple[str, Any]] = []

    async def flush() -> None:
        if not pending:
            return
        for camp in {codebook.only_campaign(o) for kind, o in pending if kind == "code"} - {None}:
            await codebook.ref(redis, k, camp)  # so that their codes are stored compact
        async with redis.pipeline(transaction=False) as p:
            for kind, obj in pending:
                if kind == "code":
                    packed = codebook.pack(obj["code"], obj, k)
                    p.hsetnx(codebook.place(k, obj["code"], packed)[0], obj["code"], packed)
                    if obj.get("campaign_id"):
                        p.rpush(k.list_codes(obj["campaign_id"]), obj["code"])
                    if obj.get("customer_id"):
                        p.sadd(k.customer_codes(obj["customer_id"]), obj["code"])
                elif kind == "customer":
                    p.set(k.customer(obj["id"]), orjson.dumps(obj))
                    if obj.get("source_id"):
                        p.set(k.customer_src(obj["source_id"]), obj["id"])
                    p.zadd(k.customers, {obj["id"]: obj.get("created_at") or now})
                else:
                    p.set(k.segment(obj["id"]), orjson.dumps(obj))
                    p.zadd(k.segments, {obj["id"]: obj.get("created_at") or now})
            await p.execute()
        pending.clear()

    first = True
    async for line in lines():
        if first:
            first = False
            continue
        if not line.strip():
            continue
        rec = orjson.loads(line)
        kind = rec["kind"]
        pending.append((kind, rec["voucher"] if kind == "code" else rec[kind]))
        if len(pending) >= 5000:
            await flush()
    await flush()
    return counts


async def _check_file(
    lines: AsyncIterator[bytes],
) -> tuple[dict[str, Any], m.Definitions, Meta, dict[str, int]]:
    it = lines.__aiter__()
    try:
        first = await it.__anext__()
    except StopAsyncIteration:
        raise invalid("the file is empty") from None
    try:
        head = orjson.loads(first)
    except orjson.JSONDecodeError as exc:
        raise invalid(f"line 1: {exc}") from None
    if not isinstance(head, dict) or head.get("format") != FORMAT:
        raise invalid(f"line 1: not a {FORMAT} file")
    try:
        defs = msgspec.convert(head.get("definitions") or {}, m.Definitions)
        meta = msgspec.convert(head.get("meta") or {}, Meta)
    except msgspec.ValidationError as exc:
        raise invalid(f"line 1: {exc}") from None
    rs = compile_defs(defs)
    counts = {
        "campaigns": len(defs.campaigns),
        "vouchers": len(defs.vouchers),
        "codes": 0,
        "customers": 0,
        "segments": 0,
    }
    seen = {v.code for v in defs.vouchers}
    n = 1
    async for line in it:
        n += 1
        if not line.strip():
            continue
        try:
            rec = orjson.loads(line)
            kind = rec["kind"]
        except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
            raise invalid(f"line {n}: {exc}") from None
        if not isinstance(rec, dict) or not isinstance(kind, str):
            raise invalid(f"line {n}: not a definitions line")
        if kind == "code":
            try:
                v = msgspec.convert(rec["voucher"], m.Voucher)
                core.engine.holder_for_voucher(rs, v)
            except (msgspec.ValidationError, KeyError) as exc:
                raise invalid(f"line {n}: {exc}") from None
            except CompileError as exc:
                raise from_compile(CompileError(f"line {n}.{exc.path}", exc.reason)) from None
            if v.code in seen:
                raise invalid(f"line {n}: code {v.code} appears twice")
            seen.add(v.code)
            counts["codes"] += 1
        elif kind in ("customer", "segment"):
            obj = rec.get(kind)
            if not isinstance(obj, dict) or not obj.get("id") or not isinstance(obj["id"], str):
                raise invalid(f"line {n}: a {kind} needs an `id` (a string)")
            if kind == "customer" and obj["id"].startswith("src:"):
                raise invalid(f"line {n}: a customer `id` cannot start with `src:`")
            src = obj.get("source_id")
            if kind == "customer" and src is not None and (not isinstance(src, str) or not src):
                raise invalid(f"line {n}: `source_id` must be a non-empty string")
            at = obj.get("created_at")
            if at is not None and (not isinstance(at, int) or isinstance(at, bool)):
                raise invalid(f"line {n}: `created_at` must be an integer (ms)")
            counts[kind + "s"] += 1
        else:
            raise invalid(f"line {n}: unknown kind {kind!r}")
    return head, defs, meta, counts


async def split_lines(chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    buf = b""
    async for chunk in chunks:
        buf += chunk
        *lines, buf = buf.split(b"\n")
        for ln in lines:
            yield ln
    if buf:
        yield buf
