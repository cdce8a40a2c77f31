"""The gateway's id source: unique, the documented shape, and never shared with a forked child."""

from __future__ import annotations

import os
import re

from gateway.app import _IdSource, _new_id


def test_ids_are_prefixed_80_bit_hex_and_unique_across_refills():
    ids = _IdSource()
    got = [ids("r_") for _ in range(3 * 400 + 7)]  # crosses three buffer refills
    assert all(re.fullmatch(r"r_[0-9a-f]{20}", i) for i in got)
    assert len(set(got)) == len(got)


def test_a_forked_child_draws_fresh_ids():
    ids = _new_id  # the gateway's own, with its at-fork hook
    ids("x_")  # the buffer now holds 399 more ids the child must not repeat
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        os.close(r)
        os.write(w, ",".join(ids("x_") for _ in range(50)).encode())
        os._exit(0)
    os.close(w)
    child = os.read(r, 1 << 16).decode().split(",")
    os.close(r)
    os.waitpid(pid, 0)
    parent = [ids("x_") for _ in range(50)]
    assert len(child) == 50 and not set(child) & set(parent)
