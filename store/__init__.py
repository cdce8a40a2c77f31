"""promogate's data layer: what every service stands on.

- :mod:`store.keys`          every Redis key, named in one place (with the ``{campaign}`` hash tags)
- :mod:`store.counters`      the counter store: limits checked and counted in one Lua call
- ``store/lua/``             the Lua scripts (each opens with its KEYS / ARGV / reply contract)
- :mod:`store.wallet`        loyalty cards: points in buckets by expiry, pending points and
                             transactions, changed by one Lua call per plan (``wallet.lua``)
- :mod:`store.openapi`       writes each service's table of operations into its OpenAPI document
- :mod:`store.autopipe`      the auto-pipelined Redis connection (one flush per loop turn)
- :mod:`store.unavailable`   which Redis failures mean "cannot serve now" (a 503 in every service)
- :mod:`store.client`        a redis-py client that fails closed within the timeout (admin's)
- :mod:`store.durability`    what a crash of Redis loses, from its persistence settings
- :mod:`store.defs`          publishing definitions, codes and API keys to the gateways
- :mod:`store.auth`          token hashing and roles
- :mod:`store.settings`      settings read once from the environment
- :mod:`store.errors`        Voucherify's error shape
- :mod:`store.process`       serving an app, free ports, readiness (``serve``, ``free_port``, ``wait_http``)
- :mod:`store.redis_server`  a reachable Redis: the configured one, else a private ``redis-server``
- :mod:`store.devrun`        ``make run`` (with the demo data set of :mod:`store.demo`)

Imports only ``core`` of promogate's packages; ``gateway`` and ``admin`` import this, never each
other (the contracts in ``pyproject.toml``, checked by ``make lint``).
"""
