"""store.durability: what a crash of Redis loses, from its persistence settings."""

from __future__ import annotations

import logging

import pytest

from store.durability import UNKNOWN, DurabilityWatch, classify


@pytest.mark.parametrize(
    ("appendonly", "appendfsync", "save", "loses", "level"),
    [
        ("yes", "always", "", "no acknowledged write", logging.INFO),
        ("yes", "always", "3600 1", "no acknowledged write", logging.INFO),
        ("yes", "everysec", "", "up to about the last second of acknowledged writes", logging.WARNING),
        ("yes", "no", "", "the acknowledged writes the OS has not flushed to disk yet "
                          "(typically up to ~30 s)", logging.WARNING),  # fmt: skip
        ("no", "always", "3600 1 300 100 60 10000",
         "every write since the last RDB snapshot (minutes of writes)", logging.WARNING),  # fmt: skip
        ("no", "everysec", "", "everything: no AOF and no RDB snapshots, a restart starts empty",
         logging.WARNING),  # fmt: skip
    ],
)
def test_what_each_setting_loses(
    appendonly: str, appendfsync: str, save: str, loses: str, level: int
) -> None:
    d = classify(appendonly, appendfsync, save)
    assert d.loses == loses
    assert d.level == level
    assert d.as_dict() == {"appendonly": appendonly, "appendfsync": appendfsync, "save": save,
                           "loses": loses}  # fmt: skip
    assert d.describe().startswith(f"Redis persistence appendonly={appendonly} ")


def test_values_as_redis_gives_them_bytes_and_case() -> None:
    d = classify(b"YES", b"Always", b"")
    assert (d.appendonly, d.appendfsync, d.save, d.loses) == ("yes", "always", "", "no acknowledged write")


def test_unreadable_settings_are_unknown_and_warned() -> None:
    d = classify(None, None, None, reason="CONFIG GET refused: unknown command 'CONFIG'")
    assert d.appendonly == d.appendfsync == d.save == UNKNOWN
    assert d.loses.startswith("unknown")
    assert d.level == logging.WARNING
    assert d.as_dict()["reason"] == "CONFIG GET refused: unknown command 'CONFIG'"
    # AOF on, fsync policy hidden: never claimed safe
    d = classify("yes", None, "")
    assert d.appendfsync == UNKNOWN and d.level == logging.WARNING and "unknown" in d.loses
    # no AOF, snapshot rules hidden
    d = classify("no", "everysec", None)
    assert d.save == UNKNOWN and "RDB snapshot" in d.loses and d.level == logging.WARNING


def test_a_watch_starts_unknown_and_stale() -> None:
    w = DurabilityWatch(logging.getLogger("test"))
    assert w.stale() and w.read_at is None
    assert w.current.loses.startswith("unknown") and w.current.level == logging.WARNING
