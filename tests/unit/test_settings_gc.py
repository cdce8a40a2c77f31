"""store.settings: the gateway workers' garbage collector settings from the environment."""

from __future__ import annotations

import pytest

from store.settings import Settings


def test_gc_threshold_and_warning_from_the_environment(monkeypatch):
    monkeypatch.delenv("PROMOGATE_GC_THRESHOLD", raising=False)
    assert Settings.from_env().gc_threshold == Settings().gc_threshold == (50_000, 20, 50)
    monkeypatch.setenv("PROMOGATE_GC_THRESHOLD", "50000,20,100")
    monkeypatch.setenv("PROMOGATE_GC_WARN_MS", "5")
    s = Settings.from_env()
    assert s.gc_threshold == (50000, 20, 100) and s.gc_warn_ms == 5.0
    monkeypatch.setenv("PROMOGATE_GC_THRESHOLD", "10000")
    assert Settings.from_env().gc_threshold == (10000,)


@pytest.mark.parametrize("bad", ["a,b", "1,2,3,4", "-1", "700,,10", ",", " "])
def test_a_bad_gc_threshold_is_refused_with_its_name(monkeypatch, bad):
    monkeypatch.setenv("PROMOGATE_GC_THRESHOLD", bad)
    with pytest.raises(ValueError, match="PROMOGATE_GC_THRESHOLD"):
        Settings.from_env()
