"""Random codes of a ``code_config``: the maker admin's bulk generation and the gateway's card
and reward codes share.

Randomness: ``secrets.token_bytes`` mapped onto the charset with rejection sampling (a byte
``b`` is used only when ``b < 256 - 256 % len(charset)``, so every character is equally likely),
vectorised with ``bytes.translate`` so that a chunk of 10,000 codes costs a few milliseconds.
Uniqueness is the writer's business (``HSETNX`` of the code in its bucket, store/codebook.py, in its own atomic call).
"""

from __future__ import annotations

import secrets

import msgspec

from core import model as m

__all__ = ["CodeConfigError", "CodeMaker", "check_config"]


class CodeConfigError(ValueError):
    """A code_config that cannot produce the requested codes; ``path`` names the field."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(message)
        self.path = path
        self.message = message


class CodeMaker:
    """Makes random codes of one ``CodeConfig``."""

    def __init__(self, cfg: m.CodeConfig) -> None:
        self.cfg = cfg
        cs = cfg.charset
        n = len(cs)
        self.positions = cfg.random_positions()
        self.limit = 256 - 256 % n
        self._latin = all(ord(c) < 256 for c in cs)
        table = bytearray(256)
        for b in range(self.limit):
            table[b] = ord(cs[b % n]) if self._latin else b % n
        self._table = bytes(table)
        self._reject = bytes(range(self.limit, 256))
        self._str_table = None if self._latin else {i: c for i, c in enumerate(cs)}
        # literal pieces around the runs of random characters
        if cfg.pattern is not None:
            runs: list[tuple[str, int]] = []
            lit, run = "", 0
            for ch in cfg.pattern:
                if ch == "#":
                    run += 1
                else:
                    if run:
                        runs.append((lit, run))
                        lit, run = "", 0
                    lit += ch
            if run:
                runs.append((lit, run))
                lit = ""
            self._runs = runs
            self._tail = lit + cfg.postfix
            self._head = cfg.prefix
        else:
            self._runs = []
            self._head = cfg.prefix
            self._tail = cfg.postfix
        self.code_length = len(self.sample(1)[0])

    def _chars(self, count: int) -> str:
        """``count`` uniformly random charset characters, as one string."""
        out: list[bytes] = []
        have = 0
        while have < count:
            want = count - have
            raw = secrets.token_bytes(int(want * 256 / self.limit * 1.03) + 32)
            got = raw.translate(self._table, self._reject)
            out.append(got)
            have += len(got)
        data = b"".join(out)[:count].decode("latin-1")
        if self._str_table is not None:
            data = data.translate(self._str_table)
        return data

    def sample(self, k: int) -> list[str]:
        p = self.positions
        s = self._chars(k * p)
        head, tail = self._head, self._tail
        if not self._runs:
            return [head + s[i : i + p] + tail for i in range(0, k * p, p)]
        runs = self._runs
        if len(runs) == 1:
            lit0 = head + runs[0][0]
            return [lit0 + s[i : i + p] + tail for i in range(0, k * p, p)]
        codes = []
        for i in range(0, k * p, p):
            parts = [head]
            j = i
            for lit, n in runs:
                parts.append(lit)
                parts.append(s[j : j + n])
                j += n
            parts.append(tail)
            codes.append("".join(parts))
        return codes


def check_config(cfg: m.CodeConfig, count: int, path: str = "voucher.code_config") -> CodeMaker:
    """Refuse up front a config that cannot hold ``count`` codes or makes invalid codes."""
    cap = cfg.capacity()
    if count > cap:
        raise CodeConfigError(
            path,
            f"this code_config can make {cap} distinct codes (charset of {len(cfg.charset)} "
            f"characters, {cfg.random_positions()} random positions): {count} requested",
        )
    # a campaign that fills more than 90 % of the space would spend ages finding free codes
    if count > cap * 0.9:
        raise CodeConfigError(
            path, f"{count} codes would fill more than 90% of the {cap} this code_config can make"
        )
    bad = [c for c in cfg.charset if c.isspace() or c == "/"]
    if bad:
        raise CodeConfigError(path + ".charset", "the charset may not hold whitespace or `/`")
    maker = CodeMaker(cfg)
    try:
        msgspec.convert({"code": maker.sample(1)[0]}, m.Voucher)
    except msgspec.ValidationError as exc:
        raise CodeConfigError(path, f"codes of this config are invalid: {exc}") from None
    return maker
