"""Bulk code generation: unique random codes from a ``code_config``, stored in their bucket
hashes (``Pcodes:<n>``, store/codebook.py).

Randomness: :class:`store.codemaker.CodeMaker` (shared with the gateway, which issues loyalty
cards and reward codes).

Uniqueness: each chunk is written by one Lua call (``SETNX_SCRIPT``) that does ``HSETNX`` of
each code in its bucket and appends only the codes it stored to the campaign's code list
(``Pcampcodes:<campaign id>``); a code that already exists comes back and is regenerated. The
same call refuses to store anything once the campaign's deletion mark (``Pcampgone:<id>``) is
set, so a generation or import running while its campaign is deleted stops (FAILED) instead of
leaving codes the deletion's clean-up never sees. Codes
kept in the definitions document (created one by one) are checked too: against a snapshot of
the document's codes, refreshed after each chunk whenever the definitions version moved (a
one-by-one create WATCHes the code's bucket, so it cannot slip in between).

Progress is reported on the async action hash (``Paction:<id>``): ``status``, ``progress``
(percent), ``processed``, ``total``. Memory stays bounded: one chunk of codes at a time.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

from core import model as m
from store import codebook
from store.codemaker import CodeMaker
from store.keys import Keys

CHUNK = 10_000
MAX_ATTEMPTS = 50  # rounds of regenerating duplicates in one chunk before giving up

SETNX_SCRIPT = """
-- KEYS[1] campaign code list; KEYS[2] the campaign's deletion mark (Pcampgone:<id>);
-- KEYS[3] the writing action's hash ('' = none): its field 'stored' counts the codes stored;
-- KEYS[2i+2], KEYS[2i+3] (i = 1..N) code i's bucket to store it in, and its other bucket
-- (store.codebook.place); ARGV[1..N] the codes; ARGV[N+1..2N] the values (store.codebook.pack)
-- returns -1 (nothing written) when the campaign was deleted, else the 1-based indices of the
-- codes that already existed (nothing written for those)
if redis.call('EXISTS', KEYS[2]) == 1 then return -1 end
local n = #ARGV / 2
local dup, new = {}, {}
for i = 1, n do
  if redis.call('HEXISTS', KEYS[2 * i + 3], ARGV[i]) == 0
      and redis.call('HSETNX', KEYS[2 * i + 2], ARGV[i], ARGV[n + i]) == 1 then
    new[#new + 1] = ARGV[i]
  else
    dup[#dup + 1] = i
  end
end
for i = 1, #new, 5000 do
  redis.call('RPUSH', KEYS[1], unpack(new, i, math.min(i + 4999, #new)))
end
if KEYS[3] ~= '' and #new > 0 then redis.call('HINCRBY', KEYS[3], 'stored', #new) end
return dup
"""


class CampaignGone(RuntimeError):
    """The campaign was deleted while codes were being stored for it (nothing more is stored)."""


def store_codes(
    script: Any,
    keys: Keys,
    campaign_id: str,
    codes: list[str],
    values: list[bytes],
    counter: str = "",
) -> list[int]:
    """Store ``codes`` where none is (with their packed ``values``) and list the new ones under the campaign, in
    one atomic call of ``script`` (``SETNX_SCRIPT`` registered on a client); ``counter``, an
    action's hash, gets its ``stored`` field raised by the number stored in the same call.
    Returns the 0-based indices of the codes that existed already. Raises
    :class:`CampaignGone`, having written nothing, once the campaign's deletion has begun (codes
    written after it would be orphans: its clean-up action would not see them)."""
    reply = script(
        keys=[
            keys.list_codes(campaign_id),
            keys.campaign_gone(campaign_id),
            counter,
            *(b for c, v in zip(codes, values, strict=True) for b in codebook.place(keys, c, v)),
        ],  # fmt: skip
        args=[*codes, *values],
    )
    if reply == -1:
        raise CampaignGone(f"campaign {campaign_id} was deleted: no more codes are stored for it")
    return [int(i) - 1 for i in reply]


class Generator:
    """Generate ``count`` new codes for a campaign, synchronously (run it in a thread).

    ``client`` is a synchronous ``redis.Redis``. ``doc_codes`` returns the set of codes kept in
    the definitions document and the version it was read at; it is called again when the
    version moves. ``progress(processed, total)`` is called after each chunk. ``counter``, the
    running action's hash, has its ``stored`` field kept equal to the codes this generator
    stored (in the same atomic call as the codes), so a resumed action knows what is missing.
    """

    def __init__(
        self,
        client: Any,
        keys: Keys,
        campaign_id: str,
        cfg: m.CodeConfig,
        doc_codes: Callable[[], tuple[set[str], int]],
        template: Callable[[str], bytes] | None = None,  # a code's record (JSON); None: {code, campaign_id}
        chunk: int = CHUNK,
        counter: str = "",
    ) -> None:
        self.r = client
        self.k = keys
        self.campaign_id = campaign_id
        self.maker = CodeMaker(cfg)
        self.doc_codes = doc_codes
        self.chunk = chunk
        self.counter = counter
        self.script = client.register_script(SETNX_SCRIPT)
        codebook.ref_sync(client, keys, campaign_id)  # so that pack names the campaign by its ref
        if template is None:
            # every generated code's record is {code, campaign_id}: the same packed value
            same = codebook.pack("X", m.Voucher(code="X", campaign_id=campaign_id), keys)
            self.value: Callable[[str], bytes] = lambda code: same
        else:
            self.value = lambda code: codebook.pack(code, template(code), keys)

    def _store(self, codes: list[str]) -> list[str]:
        """Store the codes where none is; returns those that already existed."""
        vals = [self.value(c) for c in codes]
        dups = store_codes(self.script, self.k, self.campaign_id, codes, vals, self.counter)
        return [codes[i] for i in dups]

    def _free_candidates(self, missing: int, attempts: int, doc: set[str]) -> list[str]:
        """Up to ``missing`` codes that no key holds yet, for a retry round.

        In a crowded space most draws collide: drawing only ``missing`` codes per round left
        the last code of a 3,500-of-4,096 campaign unfound after 50 rounds now and then. Each
        round draws twice as many as the last (at most 4,096, never fewer than ``missing``) and
        keeps those free now; SET NX still decides, so a code taken meanwhile is drawn again.
        """
        n = max(missing, min(missing << min(attempts, 16), 4096))
        cands = [c for c in dict.fromkeys(self.maker.sample(n)) if c not in doc]
        if not cands:
            return []
        held = codebook.read_sync(self.r, self.k, cands)
        return [c for c, h in zip(cands, held, strict=True) if h is None][:missing]

    def run(self, count: int, progress: Callable[[int, int], None] | None = None) -> int:
        """Make ``count`` new unique codes. Returns how many duplicates were regenerated."""
        doc, version = self.doc_codes()
        made = 0
        regenerated = 0
        while made < count:
            want = min(self.chunk, count - made)
            batch = self.maker.sample(want)
            batch = list(dict.fromkeys(batch))  # duplicates within the batch itself
            stored = 0
            attempts = 0
            while True:
                attempts += 1
                batch = [c for c in batch if c not in doc]
                dups = self._store(batch) if batch else []
                new = [c for c in batch if c not in set(dups)] if dups else batch
                # a code created one by one in the document meanwhile? (see module doc)
                cur = int(self.r.get(self.k.version) or 0)
                if cur != version:
                    doc, version = self.doc_codes()
                    clash = [c for c in new if c in doc]
                    if clash:
                        for c in clash:
                            codebook.drop(self.r, self.k, c)
                            self.r.lrem(self.k.list_codes(self.campaign_id), 1, c)
                        if self.counter:
                            self.r.hincrby(self.counter, "stored", -len(clash))
                        new = [c for c in new if c not in set(clash)]
                stored += len(new)
                missing = want - stored
                if missing <= 0:
                    break
                if attempts >= MAX_ATTEMPTS:
                    raise RuntimeError(
                        f"could not find free codes after {attempts} rounds: the code space is too full"
                    )
                regenerated += missing
                batch = self._free_candidates(missing, attempts, doc)
            made += stored
            if progress is not None:
                progress(made, count)
        return regenerated


def iter_chunks(items: list[Any], size: int) -> Iterator[list[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def now_ms() -> int:
    return int(time.time() * 1000)
