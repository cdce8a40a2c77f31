"""Referral programmes: what a conversion pays the referrer (pure; no I/O).

Voucherify configures referral tiers in its dashboard only; promogate reads the rewards
assigned to a REFERRAL_PROGRAM campaign (``POST /v1/rewards/{id}/assignments``) as what the
referrer earns on each unique referee conversion, and an optional ``referral_tiers`` list on
the campaign's ``referral_program`` (``core.model.ReferralTier``) as the choice among them.
"""

from __future__ import annotations

from core.model import ReferralProgram

__all__ = ["referrer_rewards"]


def referrer_rewards(
    program: ReferralProgram | None, assigned: list[str], n: int
) -> list[tuple[str | None, str]]:
    """``(tier id or None, reward id)`` paid to a referrer for its ``n``-th unique referee
    (``n`` >= 1), in order. Without tiers: every reward ``assigned`` to the campaign. With
    tiers: the rewards of every tier reached (``min_referees <= n``), a ``once`` tier only for
    the referee that reaches it (``n == min_referees``); a reward no longer assigned pays
    nothing."""
    if n < 1:
        return []
    tiers = program.referral_tiers if program is not None else None
    if not tiers:
        return [(None, r) for r in assigned]
    have = set(assigned)
    out: list[tuple[str | None, str]] = []
    for t in tiers:
        if n >= t.min_referees and (not t.once or n == t.min_referees):
            out += [(t.id, r) for r in t.rewards if r in have]
    return out
