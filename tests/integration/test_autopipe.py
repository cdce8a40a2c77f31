"""store.autopipe against a real Redis: batching, per-caller results and errors, NOSCRIPT,
bounded failure on an unreachable server."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
import redis.asyncio as aredis
from redis import exceptions as rexc

from store.autopipe import AutoPipeline, Script, StoreUnavailable
from store.unavailable import is_unavailable

pytestmark = pytest.mark.asyncio


@pytest_asyncio.fixture
async def client(redis_url: str) -> AsyncIterator[aredis.Redis]:
    c = aredis.Redis.from_url(redis_url)
    try:
        yield c
    finally:
        await c.aclose()


@pytest_asyncio.fixture
async def pipes() -> AsyncIterator[list[AutoPipeline]]:
    """Pipelines a test makes; their connections are closed after it."""
    made: list[AutoPipeline] = []
    try:
        yield made
    finally:
        for p in made:
            await p.aclose()


def _pipe(pipes: list[AutoPipeline], client: aredis.Redis, **kw) -> AutoPipeline:
    p = AutoPipeline(client, **kw)
    pipes.append(p)
    return p


async def test_one_turn_is_one_pipeline(pipes, client: aredis.Redis, key_prefix: str):
    pipe = _pipe(pipes, client)
    k = key_prefix + "n"
    replies = await asyncio.gather(*(pipe.execute_command("INCR", k) for _ in range(200)))
    assert sorted(replies) == list(range(1, 201))
    assert replies == list(range(1, 201))  # sent in call order on one connection
    assert pipe.flushes == 1 and pipe.commands == 200


async def test_tasks_started_together_share_a_pipeline(pipes, client: aredis.Redis, key_prefix: str):
    pipe = _pipe(pipes, client)
    k = key_prefix + "n"

    async def work() -> int:
        await asyncio.sleep(0)
        return int(await pipe.execute_command("INCR", k))

    assert len(await asyncio.gather(*(work() for _ in range(300)))) == 300
    assert pipe.flushes == 1


async def test_batches_split_and_inflight_bounded(pipes, client: aredis.Redis, key_prefix: str):
    pipe = _pipe(pipes, client, max_batch=64, max_inflight=1)
    k = key_prefix + "n"
    replies = await asyncio.gather(*(pipe.execute_command("INCR", k) for _ in range(1000)))
    assert replies == list(range(1, 1001))
    assert pipe.flushes == 16  # ceil(1000 / 64), one at a time


async def test_each_caller_gets_its_own_reply_or_error(pipes, client: aredis.Redis, key_prefix: str):
    pipe = _pipe(pipes, client)
    h = key_prefix + "h"
    await client.hset(h, mapping={"a": "1", "b": "2"})
    ok1, bad, ok2, raw = await asyncio.gather(
        pipe.execute_command("HGETALL", h),
        pipe.execute_command("INCR", h),  # WRONGTYPE: only this caller fails
        pipe.execute_command("HGET", h, "b"),
        pipe.evalsha(Script("return redis.call('HLEN', KEYS[1])"), [h]),
        return_exceptions=True,
    )
    assert ok1 == {b"a": b"1", b"b": b"2"}  # the client's response callback applied
    assert isinstance(bad, rexc.ResponseError) and "WRONGTYPE" in str(bad)
    assert ok2 == b"2"
    assert raw == 2
    err = Script("return redis.call('NOPE')", "broken")
    with pytest.raises(rexc.ResponseError):
        await pipe.evalsha(err)


async def test_cancelled_caller_is_not_sent(pipes, client: aredis.Redis, key_prefix: str):
    pipe = _pipe(pipes, client)
    k = key_prefix + "n"
    fut = pipe.execute_command("INCR", k)
    fut.cancel()
    assert await pipe.execute_command("INCR", k) == 1


async def test_noscript_loads_and_retries(pipes, private_redis):
    c = aredis.Redis.from_url(private_redis.url)
    try:
        pipe = _pipe(pipes, c)
        s = Script("return tonumber(ARGV[1]) * 2", "double")
        assert await asyncio.gather(*(pipe.evalsha(s, [], [i]) for i in range(10))) == [
            i * 2 for i in range(10)
        ]
        assert pipe.script_loads == 1  # one load for the whole batch
        await c.script_flush()
        assert await pipe.evalsha(s, [], [21]) == 42
        assert pipe.script_loads == 2
    finally:
        await c.aclose()


async def test_unreachable_server_fails_fast_then_recovers(pipes, private_redis):
    c = aredis.Redis.from_url(private_redis.url, socket_connect_timeout=0.3)
    pipe = _pipe(pipes, c, timeout=0.5)
    try:
        assert await pipe.execute_command("PING") is True
        private_redis.stop()
        t0 = time.monotonic()
        res = await asyncio.gather(
            *(pipe.execute_command("PING") for _ in range(20)), return_exceptions=True
        )
        assert all(isinstance(r, StoreUnavailable) for r in res)
        assert time.monotonic() - t0 < 1.0
        private_redis.start()
        assert await pipe.execute_command("PING") is True
    finally:
        await c.aclose()


async def test_silent_server_times_out(pipes):
    # A listening socket that never answers: connect succeeds, replies never come.
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(16)
    port = srv.getsockname()[1]
    c = aredis.Redis(host="127.0.0.1", port=port)
    pipe = _pipe(pipes, c, timeout=0.3)
    try:
        t0 = time.monotonic()
        with pytest.raises(StoreUnavailable, match="within 0.3s"):
            await pipe.execute_command("PING")
        assert time.monotonic() - t0 < 0.8
    finally:
        await c.aclose()
        srv.close()


async def test_unavailable_replies_are_classified():
    assert is_unavailable(rexc.ResponseError("LOADING Redis is loading the dataset"))
    assert is_unavailable(rexc.ResponseError("BUSY Redis is busy running a script"))
    assert is_unavailable(rexc.ReadOnlyError("READONLY You can't write against a replica"))
    assert is_unavailable(rexc.ResponseError("OOM command not allowed"))
    assert not is_unavailable(rexc.ResponseError("WRONGTYPE Operation against a key"))
    assert not is_unavailable(rexc.ResponseError("ERR Error running script"))


async def _refused(pipes: list[AutoPipeline], client: aredis.Redis, match: str) -> None:
    """With ``client``'s settings no working connection can be had: the call fails closed."""
    try:
        with pytest.raises(StoreUnavailable, match=match):
            await _pipe(pipes, client, timeout=2).execute_command("PING")
    finally:
        await client.aclose()


async def test_handshake_auth_database_resp_versions_and_unix_socket(pipes, tmp_path):
    # The connection is the auto-pipeliner's own: it must log in, pick the database and speak
    # the RESP version of the URL exactly as redis-py would, over TCP and a unix socket.
    from store.redis_server import PrivateRedis

    sock = str(tmp_path / "r.sock")
    with PrivateRedis(extra_args=("--unixsocket", sock, "--unixsocketperm", "700")) as server:
        admin = aredis.Redis.from_url(server.url)
        try:
            await admin.acl_setuser("pg", enabled=True, passwords=["+s3cret"], commands=["+@all"], keys=["*"])
            await admin.config_set("requirepass", "topsecret")
            await admin.auth("topsecret")
            hp = f"127.0.0.1:{server.port}"
            cases = [
                (f"redis://pg:s3cret@{hp}/5?protocol=2", 5),
                (f"redis://pg:s3cret@{hp}/6?protocol=3", 6),
                (f"redis://:topsecret@{hp}/0", 0),
                (f"unix://:topsecret@{sock}?db=3", 3),
            ]
            setter = Script("redis.call('HSET', KEYS[1], 'url', ARGV[1]) return redis.call('HLEN', KEYS[1])")
            for url, db in cases:
                c = aredis.Redis.from_url(url)
                try:
                    pipe = _pipe(pipes, c)
                    assert await pipe.evalsha(setter, ["ap:h"], [url]) == 1
                    assert await pipe.execute_command("HGETALL", "ap:h") == {b"url": url.encode()}
                    assert await pipe.execute_command("PING") is True
                finally:
                    await c.aclose()
                check = aredis.Redis(host="127.0.0.1", port=server.port, password="topsecret", db=db)
                try:
                    assert await check.hget("ap:h", "url") == url.encode()  # landed in its database
                    await check.delete("ap:h")
                finally:
                    await check.aclose()
            await _refused(pipes, aredis.Redis.from_url(f"redis://pg:wrong@{hp}/0"), "Redis unreachable")
        finally:
            await admin.aclose()


async def test_connection_killed_mid_call_fails_that_call_then_reconnects(pipes, private_redis):
    c = aredis.Redis.from_url(private_redis.url)
    admin = aredis.Redis.from_url(private_redis.url)
    try:
        pipe = _pipe(pipes, c, timeout=5)
        assert await pipe.execute_command("PING") is True
        me = await admin.client_id()
        blocked = asyncio.ensure_future(pipe.execute_command("BLPOP", "ap:never", 3))
        for _ in range(100):  # wait until the pipeline's connection is blocked on the server
            clients = await admin.client_list()
            ours = [cl for cl in clients if int(cl["id"]) != me]
            if ours and ours[0]["cmd"] == "blpop":
                break
            await asyncio.sleep(0.02)
        assert len(ours) == 1
        await admin.client_kill_filter(_id=int(ours[0]["id"]))
        with pytest.raises(StoreUnavailable, match="Redis unreachable"):
            await blocked  # its outcome is unknown: never re-sent, never a made-up reply
        assert await pipe.execute_command("INCR", "ap:n") == 1  # a fresh connection, by itself
        assert pipe.connects == 2
    finally:
        await c.aclose()
        await admin.aclose()


async def test_large_replies_across_read_chunks(pipes, client: aredis.Redis, key_prefix: str):
    # Replies are handed to hiredis 16 KB at a time: one reply bigger than that, and a batch
    # whose replies add up to far more, must come back whole and in order.
    pipe = _pipe(pipes, client)
    big, small = key_prefix + "big", key_prefix + "small"
    value = bytes(range(256)) * 400  # 100 KB
    await client.set(big, value)
    await client.set(small, b"s")
    got = await asyncio.gather(*(pipe.execute_command("GET", big if i % 3 else small) for i in range(60)))
    assert got == [value if i % 3 else b"s" for i in range(60)]
    assert pipe.flushes == 1


def _tls_files(d) -> tuple[str, str, str]:
    """A throwaway CA and a server certificate for 127.0.0.1 (openssl)."""
    import subprocess

    def run(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=d, check=True, capture_output=True)

    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.crt", "-days", "2",
        "-subj", "/CN=promogate-test-ca")  # fmt: skip
    run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=localhost")
    (d / "ext.cnf").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    run("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
        "-out", "server.crt", "-days", "2", "-extfile", "ext.cnf")  # fmt: skip
    return str(d / "ca.crt"), str(d / "server.crt"), str(d / "server.key")


async def test_tls_connection_verifies_the_server(pipes, tmp_path):
    # rediss:// URLs: the auto-pipeliner connects with redis-py's SSL context, so the server
    # certificate is checked against the CA the URL's settings name.
    from store.process import free_port
    from store.redis_server import PrivateRedis

    ca, cert, key = _tls_files(tmp_path)
    tls_port = free_port()
    args = ("--tls-port", str(tls_port), "--tls-cert-file", cert, "--tls-key-file", key,
            "--tls-ca-cert-file", ca, "--tls-auth-clients", "no")  # fmt: skip
    with PrivateRedis(extra_args=args) as server:
        url = f"rediss://127.0.0.1:{tls_port}/4"
        c = aredis.Redis.from_url(url, ssl_ca_certs=ca, ssl_cert_reqs="required")
        plain = aredis.Redis(host="127.0.0.1", port=server.port, db=4)
        try:
            pipe = _pipe(pipes, c)
            s = Script("return redis.call('INCRBY', KEYS[1], ARGV[1])", "incr")
            assert await asyncio.gather(*(pipe.evalsha(s, ["ap:tls"], [2]) for _ in range(5))) == [2, 4, 6, 8, 10]
            assert await plain.get("ap:tls") == b"10"  # landed in database 4, over TLS
            # another CA: the server's certificate is refused, the call fails closed
            other = tmp_path / "other"
            other.mkdir()
            other_ca, _, _ = _tls_files(other)
            bad = aredis.Redis.from_url(url, ssl_ca_certs=other_ca, ssl_cert_reqs="required")
            await _refused(pipes, bad, "(?i)certificate")
        finally:
            await c.aclose()
            await plain.aclose()
