"""`make bench-redis`: Redis time per script call (issue 13, target 1), measured on a quiet,
PRIVATE ``redis-server`` beside a trivial one-key script in the same run.

The real gateway app runs in this process (Litestar's test client, no HTTP server) on a private
Redis seeded with one flash-sale code (``FLASH``: 1.00 off, at most 10^9 uses, a campaign
budget and a per-customer limit, so a validation reads counters). Phases, each after
``CONFIG RESETSTAT``, then ``INFO commandstats``:

- ``trivial``:  ``EVALSHA`` of ``return redis.call('INCRBY', KEYS[1], 1)`` (the floor), and
  ``trivial_fn``: the same as a function (``FCALL``), how promogate's scripts are called;
- ``validate``: ``POST /v1/validations`` of the code (the check script reads its counters);
- ``redeem``:   ``POST /v1/redemptions`` of the code, one customer each;
- ``rollback``: ``POST /v1/redemptions/{id}/rollback`` of each of those redemptions.

Then the loyalty and referral programmes, on a second app of the same Redis under its own key
prefix (``rl:``) seeded with ``make run``'s demo programmes (``store.demo``: "Fuel Rewards",
``camp_fuel``, and "Refer a driver", ``camp_refer``, VOUCHERIFY-LOYALTY.md §15's flows; only
the stock of two rewards raised so that thousands of calls never exhaust it), after the trivial
function again (``trivial_fn2``, the floor beside them):

- ``order_join``:   ``POST /v1/orders`` PAID, 20 litres of diesel, a new customer each: the
  customer is created, auto-joins the programme and earns on three rules (1 point per litre,
  double over 15 litres, the welcome bonus);
- ``order_paid``:   (a) the same customers' second paid order: a member earns on two rules;
- ``event``:        (b) ``POST /v1/events`` ``birthday`` (a custom-event earning rule, 200 points);
- ``pay_points``:   (c) ``POST /v1/redemptions`` of the member's card with reward
  ``rew_fuel_pwp`` (100 points = 1.00) against a PAID 10-litre order, which also earns;
- ``pay_rollback``: (c) ``POST /v1/redemptions/{parent}/rollbacks`` of each of those (points
  refunded, what the order earned taken back);
- ``reward``:       (d) ``POST /v1/loyalties/camp_fuel/members/{code}/redemption`` of
  ``rew_coffee`` (100 points, a reward with stock);
- ``referral``:     (e) ``POST /v1/redemptions`` of a referral code by a new customer with a
  PAID 20-litre order: 5.00 off, the referee joins and gets 200 points, the referrer 500 (and a
  car wash at its third friend); codes published to members through admin's
  ``POST /v1/publications``, as many referrers as the programme's ``max_referees`` (20) needs.

For each: Redis µs per ``evalsha`` / ``fcall`` (``usec_per_call``), its ratio to the trivial script, and
every command the phase sent per request (a request may also read the definitions' version).
A request of the loyalty phases calls several of promogate's functions, which ``INFO
commandstats`` cannot tell apart (all are ``FCALL``): every ``REDIS_COST_SPLIT_EVERY``-th
request of those phases is followed call by call (``INFO commandstats`` read before each
command the app sends and after the request; one connection runs them in order), which gives
each function's own µs per call and commands per call. The phase's figure is that of the
other requests (the extra ``INFO`` reads sit between the calls of followed requests; both are
printed). Environment: ``REDIS_COST_CALLS`` [2000] per phase, ``REDIS_COST_LOYALTY_CALLS``
[``REDIS_COST_CALLS``] per loyalty phase, ``REDIS_COST_SPLIT_EVERY`` [4] (0: no split).
Writes ``bench-results/redis-cost.json``.
"""

from __future__ import annotations

import copy
import json
import math
import os
import statistics
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import redis
from litestar.testing import TestClient

from admin.testing import AdminServer
from core import model as m
from gateway.app import create_app
from store import autopipe, demo
from store.defs import publish_definitions_sync, put_app_key_sync
from store.keys import Keys
from store.redis_server import PrivateRedis
from store.settings import Settings

OUT = Path(__file__).resolve().parent.parent / "bench-results" / "redis-cost.json"
PREFIX = "rc:"
APP_ID, APP_TOKEN = "app_cost", "cost-token-0123456789"
HEADERS = {"X-App-Id": APP_ID, "X-App-Token": APP_TOKEN}
TRIVIAL = "return redis.call('INCRBY', KEYS[1], 1)"
#: the loyalty phases' app (the demo programmes, apart from FLASH: its redeems would earn there)
LOYALTY_PREFIX = "rl:"
PROGRAM, REFERRAL = "camp_fuel", "camp_refer"
PAY_REWARD, SHOP_REWARD = "rew_fuel_pwp", "rew_coffee"


def _defs() -> m.Definitions:
    return m.load_definitions({
        "campaigns": [{"id": "camp_flash", "name": "Flash sale",
                       "voucher": {"discount": {"type": "AMOUNT", "amount_off": 100},
                                   "redemption": {"quantity": 10**9}},
                       "limits": {"discounted_amount": 10**12, "per_customer": 5}}],
        "vouchers": [{"code": "FLASH", "campaign_id": "camp_flash"}],
    })  # fmt: skip


def _loyalty_defs() -> tuple[m.Definitions, int]:
    """``store.demo``'s data set with the stock of the rewards the phases take raised (the
    coffee bought with points, the car wash a referrer gets at its third friend); and the
    referral programme's ``max_referees``."""
    data = copy.deepcopy(demo.DEMO)
    for rw in data["rewards"]:
        if rw["id"] in (SHOP_REWARD, "rew_car_wash"):
            rw["stock"] = 10**9
    (camp,) = (c for c in data["campaigns"] if c["id"] == REFERRAL)
    return m.load_definitions(data), int(camp["referral_program"]["max_referees"])


def _fill(litres: int) -> list[dict[str, Any]]:
    """A fill-up's order line, as tests/integration/test_gateway_fuel_station.py sends it."""
    return [{"sku_id": "sku_diesel", "product_id": "prod_fuel", "quantity": litres, "price": 179,
             "amount": 179 * litres}]  # fmt: skip


def _stats(r: redis.Redis) -> dict[str, dict[str, float]]:
    return {k.removeprefix("cmdstat_"): v for k, v in r.info("commandstats").items()}


class _Calls:
    """Which of promogate's functions each request calls (``AutoPipeline.evalsha`` spied: the
    second call of one function in a request is ``name#2``...), and, for a followed request,
    each call's own Redis time: ``INFO commandstats`` is read before every command the app
    sends and after the request; an interval's ``fcall`` time belongs to the calls that
    completed in it, in the order they were sent (one connection, run in order). Intervals
    where several completed together are kept under their joined names."""

    def __init__(self, r: redis.Redis) -> None:
        self.r = r
        self.names: list[str] = []
        self.follow = False
        self.pending: list[str] = []
        self.plain: list[str] = []
        self.last: dict[str, tuple[int, int]] = {}
        self.split: dict[str, dict[str, Any]] = {}
        self.followed = [0, 0, 0]  # requests, fcalls, usec
        self._real: Any = None

    def __enter__(self) -> _Calls:
        real_eval, real_cmd = autopipe.AutoPipeline.evalsha, autopipe.AutoPipeline.execute_command
        self._real = (real_eval, real_cmd)
        calls = self

        def evalsha(pipe: Any, script: Any, keys: Any = (), args: Any = ()) -> Any:
            n = sum(1 for x in calls.names if x.split("#")[0] == script.name)
            label = script.name if n == 0 else f"{script.name}#{n + 1}"
            calls.names.append(label)
            if calls.follow:
                calls._mark()
                calls.pending.append(label)
            return real_eval(pipe, script, keys, args)

        def execute_command(pipe: Any, *args: Any, **options: Any) -> Any:
            if calls.follow:
                calls._mark()
                calls.plain.append(str(args[0]).lower())
            return real_cmd(pipe, *args, **options)

        autopipe.AutoPipeline.evalsha = evalsha  # type: ignore[method-assign]
        autopipe.AutoPipeline.execute_command = execute_command  # type: ignore[method-assign]
        return self

    def __exit__(self, *exc: object) -> None:
        autopipe.AutoPipeline.evalsha, autopipe.AutoPipeline.execute_command = self._real  # type: ignore[method-assign]

    def reset(self) -> None:
        self.split, self.followed = {}, [0, 0, 0]

    def begin(self, follow: bool) -> None:
        self.names, self.pending, self.plain, self.follow = [], [], [], follow
        if follow:
            self.last = self._snap()

    def end(self) -> list[str]:
        if self.follow:
            self._mark()
            self.followed[0] += 1
            self.follow = False
        return self.names

    def _snap(self) -> dict[str, tuple[int, int]]:
        return {k.removeprefix("cmdstat_"): (int(v["calls"]), int(v["usec"]))
                for k, v in self.r.info("commandstats").items()}  # fmt: skip

    def _mark(self) -> None:
        now = self._snap()
        delta = {c: (v[0] - self.last.get(c, (0, 0))[0], v[1] - self.last.get(c, (0, 0))[1])
                 for c, v in now.items() if not c.startswith(("info", "config"))}  # fmt: skip
        self.last = now
        n, usec = delta.get("fcall", (0, 0))
        plain, self.plain = Counter(self.plain), []
        if n <= 0:
            return
        done, self.pending = self.pending[:n], self.pending[n:]
        self.followed[1] += n
        self.followed[2] += usec
        s = self.split.setdefault("+".join(done), {"intervals": 0, "fcalls": 0, "usec": 0, "cmds": Counter(),
                                                  "each": []})  # fmt: skip
        s["intervals"] += 1
        s["each"].append(usec / n)
        s["fcalls"] += n
        s["usec"] += usec
        for c, (k, _u) in delta.items():
            k -= plain.get(c, 0)  # a plain command of the app that completed in the interval
            if c != "fcall" and k > 0:
                s["cmds"][c] += k


def _phase(r: redis.Redis, name: str, calls: int, run: Callable[[int], Any],
           spy: _Calls | None = None, follow_every: int = 0) -> dict[str, Any]:  # fmt: skip
    """``calls`` requests ``run(i)`` after ``CONFIG RESETSTAT``: Redis µs per script call and
    the commands per request. With ``spy``: the functions each request calls; with
    ``follow_every`` too, every such request is followed call by call (see :class:`_Calls`)."""
    if spy is not None:
        spy.reset()
    fns: Counter[str] = Counter()
    r.config_resetstat()
    wall = 0.0
    for i in range(calls):
        follow = spy is not None and follow_every > 0 and i % follow_every == follow_every - 1
        if spy is not None:
            spy.begin(follow)
        t0 = time.perf_counter()
        run(i)
        if not follow:
            wall += time.perf_counter() - t0
        if spy is not None:
            fns.update(spy.end())
    st = _stats(r)
    ev = st.get("fcall") or st.get("evalsha") or {}  # promogate's scripts are functions (FCALL)
    per = {c: round(v["calls"] / calls, 2) for c, v in st.items() if not c.startswith(("config", "info"))}
    out = {"phase": name, "calls": calls, "evalsha_usec_per_call": ev.get("usec_per_call"),
           "evalsha_calls": ev.get("calls"), "commands_per_request": per}  # fmt: skip
    if not ev:  # no script at all (a validation of counters without holds reads them plainly)
        usec = sum(v["usec"] for c, v in st.items() if not c.startswith(("config", "info")))
        out["plain_usec_per_request"] = round(usec / calls, 2)
    if spy is not None:
        out["fcalls_per_request"] = {f: round(k / calls, 2) for f, k in fns.items()}
    if spy is not None and spy.followed[0]:
        followed, fc, fu = spy.followed
        rest_calls, rest_usec = int(ev.get("calls", 0)) - fc, int(ev.get("usec", 0)) - fu
        out["evalsha_usec_per_call"] = round(rest_usec / rest_calls, 2) if rest_calls > 0 else None
        out["evalsha_calls"] = rest_calls
        out["followed_requests"] = followed
        out["followed_usec_per_call"] = round(fu / fc, 2) if fc else None
        out["functions"] = {
            f: {"per_request": round(s["intervals"] / followed, 3),
                "usec_per_call": round(s["usec"] / s["fcalls"], 2),
                "median_usec": statistics.median(s["each"]),
                "commands_per_call": {c: round(k / s["intervals"], 2) for c, k in sorted(s["cmds"].items())}}
            for f, s in sorted(spy.split.items(), key=lambda kv: -kv[1]["usec"])
        }  # fmt: skip
    timed = calls - (spy.followed[0] if spy is not None else 0)  # followed requests: not timed
    out["wall_ms_per_request"] = round(wall * 1000 / max(1, timed), 3)
    return out


def _trivial_fn(r: redis.Redis) -> Callable[[int], Any]:
    """The trivial one-key script as a function (``FUNCTION LOAD``): one ``FCALL`` of it."""
    r.function_load("#!lua name=cost_trivial\nredis.register_function('cost_trivial', "
                    "function(keys, args) return redis.call('INCRBY', keys[1], 1) end)", replace=True)  # fmt: skip
    return lambda i: r.fcall("cost_trivial", 1, PREFIX + "trivial")


def _loyalty(r: redis.Redis, url: str, calls: int, follow_every: int, spy: _Calls,
             warm: int = 10) -> list[dict[str, Any]]:  # fmt: skip
    """The loyalty and referral phases (see the module's doc), on their own key prefix, after
    ``warm`` rounds of every flow on customers of their own."""
    defs, max_referees = _loyalty_defs()
    publish_definitions_sync(r, LOYALTY_PREFIX, defs)
    put_app_key_sync(r, LOYALTY_PREFIX, APP_ID, APP_TOKEN, "application")
    keys = Keys(LOYALTY_PREFIX)
    out: list[dict[str, Any]] = []

    def phase(name: str, run: Callable[[int], Any]) -> None:
        out.append(_phase(r, name, calls, run, spy, follow_every))

    with TestClient(create_app(Settings(redis_url=url, key_prefix=LOYALTY_PREFIX))) as c:

        def post(path: str, body: dict[str, Any] | None = None) -> Any:
            resp = c.post(path, json=body, headers=HEADERS)
            assert resp.status_code == 200, (path, resp.text[:600])
            return resp.json()

        def order(who: str, source_id: str, litres: int = 20) -> None:
            post("/v1/orders", {"source_id": source_id, "status": "PAID", "items": _fill(litres),
                                "customer": {"source_id": who}})  # fmt: skip

        def card(who: str) -> str:
            cid = r.get(keys.customer_src(who))
            code = r.get(keys.card_holder(PROGRAM, cid.decode())) if cid else None
            assert code, f"{who} holds no card"
            return str(code.decode())

        cards: dict[str, str] = {}
        parents: dict[str, str] = {}

        def pay(who: str, source_id: str) -> str:
            body = {"customer": {"source_id": who},
                    "order": {"source_id": source_id, "amount": 1790, "items": _fill(10)},
                    "redeemables": [{"object": "voucher", "id": cards[who],
                                     "reward": {"id": PAY_REWARD, "points": 100}}]}  # fmt: skip
            return str(post("/v1/redemptions", body)["parent_redemption"]["id"])

        def event(who: str) -> None:
            post("/v1/events", {"event": "birthday", "customer": {"source_id": who}})

        def buy(who: str) -> None:
            post(f"/v1/loyalties/{PROGRAM}/members/{cards[who]}/redemption",
                 {"reward": {"id": SHOP_REWARD}})  # fmt: skip

        def refer(code: str, who: str, source_id: str) -> None:
            got = post("/v1/redemptions", {"customer": {"source_id": who},
                                           "order": {"source_id": source_id, "items": _fill(20)},
                                           "redeemables": [{"object": "voucher", "id": code}]})  # fmt: skip
            assert got["order"]["total_discount_amount"] == 500, got["order"]

        # referral codes (admin's publications, as a client publishes them) for the warm-up's
        # referrer and for enough members to take every referee within max_referees each
        referrers = ["w0", *(f"m{j}" for j in range(math.ceil(calls / max_referees)))]
        for who in referrers:
            order(who, f"pre-{who}")
        codes: dict[str, str] = {}
        with AdminServer(url, LOYALTY_PREFIX) as adm:  # closed before any phase
            for who in referrers:
                pub = adm.request("POST", "/v1/publications", json={
                    "campaign": {"id": REFERRAL}, "customer": {"source_id": who}})  # fmt: skip
                assert pub.status_code == 200, pub.text
                codes[who] = pub.json()["voucher"]["code"]
        # warm: functions loaded, the worker's caches filled, every path taken
        for j in range(warm):
            who = f"w{j}"
            order(who, f"warm-join-{j}")
            order(who, f"warm-paid-{j}")
            event(who)
            cards[who] = card(who)
            post(f"/v1/redemptions/{pay(who, f'warm-pay-{j}')}/rollbacks")
            buy(who)
            refer(codes["w0"], f"wf{j}", f"warm-ref-{j}")

        out.append(_phase(r, "trivial_fn2", calls, _trivial_fn(r)))
        # (a) members' orders: the first one joins (its own phase), the second earns
        phase("order_join", lambda i: order(f"c{i}", f"join-{i}"))
        for i in range(calls):
            cards[f"c{i}"] = card(f"c{i}")
        phase("order_paid", lambda i: order(f"c{i}", f"paid-{i}"))
        # (b) a custom event that earns
        phase("event", lambda i: event(f"c{i}"))

        # (c) pay with points at checkout, and its rollback
        def pay_points(i: int) -> None:
            parents[f"c{i}"] = pay(f"c{i}", f"pay-{i}")

        phase("pay_points", pay_points)
        phase("pay_rollback", lambda i: post(f"/v1/redemptions/{parents[f'c{i}']}/rollbacks"))
        # (d) a reward bought with points
        phase("reward", lambda i: buy(f"c{i}"))
        # (e) a referral conversion: a new customer redeems a member's code
        phase("referral", lambda i: refer(codes[f"m{i // max_referees}"], f"f{i}", f"ref-{i}"))
    return out


def main() -> None:
    import logging

    logging.getLogger("httpx").setLevel(logging.WARNING)  # one INFO line per request otherwise
    calls = int(os.environ.get("REDIS_COST_CALLS", "2000"))
    loyalty_calls = int(os.environ.get("REDIS_COST_LOYALTY_CALLS", str(calls)))
    follow_every = int(os.environ.get("REDIS_COST_SPLIT_EVERY", "4"))
    t_start = time.perf_counter()
    with PrivateRedis() as srv, redis.Redis.from_url(srv.url) as info, _Calls(info) as spy:
        r = redis.Redis.from_url(srv.url)
        publish_definitions_sync(r, PREFIX, _defs())
        put_app_key_sync(r, PREFIX, APP_ID, APP_TOKEN, "application")
        sha = r.script_load(TRIVIAL)
        app = create_app(Settings(redis_url=srv.url, key_prefix=PREFIX))
        out: list[dict[str, Any]] = []
        with TestClient(app) as c:

            def body(i: int) -> dict[str, Any]:
                return {"customer": {"source_id": f"c{i}"}, "order": {"amount": 5000},
                        "redeemables": [{"object": "voucher", "id": "FLASH"}]}  # fmt: skip

            for i in range(50):  # warm: scripts loaded, the worker's caches filled
                assert c.post("/v1/validations", json=body(i), headers=HEADERS).status_code == 200
            out.append(_phase(r, "trivial", calls, lambda i: r.evalsha(sha, 1, PREFIX + "trivial")))
            out.append(_phase(r, "trivial_fn", calls, _trivial_fn(r)))

            def validate(i: int) -> None:
                assert c.post("/v1/validations", json=body(i), headers=HEADERS).json()["valid"]

            out.append(_phase(r, "validate", calls, validate, spy))
            ids: list[str] = []

            def redeem(i: int) -> None:
                resp = c.post("/v1/redemptions", json=body(i), headers=HEADERS)
                assert resp.status_code == 200, resp.text
                ids.append(resp.json()["redemptions"][0]["id"])

            out.append(_phase(r, "redeem", calls, redeem, spy))

            def rollback(i: int) -> None:
                resp = c.post(f"/v1/redemptions/{ids[i]}/rollback", headers=HEADERS)
                assert resp.status_code == 200, resp.text

            out.append(_phase(r, "rollback", calls, rollback, spy))
        if loyalty_calls > 0:
            out += _loyalty(r, srv.url, loyalty_calls, follow_every, spy)
        r.close()
    floor = out[0]["evalsha_usec_per_call"] or 1
    floor_fn = floor
    for p in out:
        if p["phase"].startswith("trivial_fn"):
            floor_fn = p["evalsha_usec_per_call"] or 1
        usec = p["evalsha_usec_per_call"] or p.get("plain_usec_per_request") or 0
        p["x_trivial"] = round(usec / floor, 2)
        p["x_trivial_fn"] = round(usec / floor_fn, 2)
        for f in p.get("functions", {}).values():
            f["x_trivial_fn"] = round(f["usec_per_call"] / floor_fn, 2)
    report = {"at": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "split_every": follow_every,
              "seconds": round(time.perf_counter() - t_start, 1), "phases": out}  # fmt: skip
    OUT.parent.mkdir(exist_ok=True)
    OUT.write_text(json.dumps(report, indent=2))
    for p in out:
        what = "us/call"
        if p["evalsha_usec_per_call"] is None:  # no script: the plain commands' time per request
            what = "us/request of plain commands (no script)"
        print(f"{p['phase']:12} {p['evalsha_usec_per_call'] or p.get('plain_usec_per_request', 0):8.2f} {what}  "
              f"x{p['x_trivial']:<6} (x{p['x_trivial_fn']} the trivial fn) {p['wall_ms_per_request']:.3f} "
              f"ms/request  {p['commands_per_request']}")  # fmt: skip
        if "fcalls_per_request" in p:
            print(f"{'':12} functions per request: {p['fcalls_per_request']}")
        if "functions" in p:
            print(f"{'':12} followed requests: {p['followed_requests']}, "
                  f"{p['followed_usec_per_call']} us/call")  # fmt: skip
            for f, s in p["functions"].items():
                print(f"{'':14}{f:16} {s['usec_per_call']:8.2f} us/call (median {s['median_usec']:6.1f}) "
                      f"x{s['x_trivial_fn']:<6} "
                      f"{s['per_request']}/request  {s['commands_per_call']}")  # fmt: skip
    print(f"({report['seconds']} s)")


if __name__ == "__main__":
    main()
