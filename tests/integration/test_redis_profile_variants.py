"""`make profile-redis` takes parts out of redeem.lua and rollback.lua by replacing their text:
every variant must still find its text in the shipped script and load as a Redis function
library (a change to the Lua that breaks a variant fails here, not in a benchmark run). And
the tool's comparison with a git revision (the Store and the Lua of HEAD beside this tree's)
runs end to end, a few calls per row."""

from __future__ import annotations

from typing import Any

import pytest

from loadtests.redis_profile import VARIANTS, _library, measure


@pytest.mark.parametrize("variant", [v[0] for v in VARIANTS])
def test_each_variant_loads(variant: str, redis_sync: Any) -> None:
    script, changes = next((s, c) for name, s, _w, c in VARIANTS if name == variant)
    lib, fn = _library(changes, script)
    name = lib.split("\n", 1)[0].removeprefix("#!lua name=")
    try:
        assert redis_sync.function_load(lib, replace=True).decode() == name
        (info,) = redis_sync.function_list(library=name)
        fields = dict(zip(info[::2], info[1::2], strict=True))
        names = {dict(zip(f[::2], f[1::2], strict=True))[b"name"].decode() for f in fields[b"functions"]}
        assert fn in names
    finally:
        redis_sync.function_delete(name)


@pytest.mark.slow
def test_the_comparison_with_head_runs() -> None:
    report = measure(calls=3, rounds=1, base_rev="HEAD", with_variants=True)
    rows = {r["row"]: r for r in report["rows"]}
    for name in ("trivial", "redeem_new", "redeem_base", "rollback_new", "rollback_base",
                 *(v[0] for v in VARIANTS)):  # fmt: skip
        assert rows[name]["usec"] > 0, name
    assert set(report["ratios"]) == {"redeem", "rollback"}
