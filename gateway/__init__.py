"""promogate gateway: the checkout API (Litestar + uvloop), the ruleset kept live from the definitions in Redis."""
