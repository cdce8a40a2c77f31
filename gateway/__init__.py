"""promogate gateway: the checkout API (Litestar + uvloop), Redis Lua scripts, definitions cache."""
