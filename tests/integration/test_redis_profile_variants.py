"""`make profile-redis` takes parts out of redeem.lua by replacing their text: every variant must
still find its text in the shipped script and load as a Redis function library (a change to
redeem.lua that breaks a variant fails here, not in a benchmark run)."""

from __future__ import annotations

from typing import Any

import pytest

from loadtests.redis_profile import VARIANTS, _library


@pytest.mark.parametrize("variant", [v[0] for v in VARIANTS])
def test_each_variant_loads(variant: str, redis_sync: Any) -> None:
    changes = next(c for name, _w, c in VARIANTS if name == variant)
    lib, fn = _library(changes)
    name = lib.split("\n", 1)[0].removeprefix("#!lua name=")
    try:
        assert redis_sync.function_load(lib, replace=True).decode() == name
        (info,) = redis_sync.function_list(library=name)
        fields = dict(zip(info[::2], info[1::2], strict=True))
        names = {dict(zip(f[::2], f[1::2], strict=True))[b"name"].decode() for f in fields[b"functions"]}
        assert fn in names
    finally:
        redis_sync.function_delete(name)
