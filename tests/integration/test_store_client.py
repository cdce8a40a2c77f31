"""store.client: a redis-py client that fails closed within its time budget, never sends a write
twice, and sends a read once more when its pooled connection turns out to be dead.

Against real ``redis-server`` processes: frozen with SIGSTOP (accepts, never answers), or
reached through a small TCP relay of this file that can reset (RST) every connection it
carries, as a network or a restarted server behind a load balancer does.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import struct
import threading
import time
import uuid
from collections.abc import Iterator

import pytest
from redis import exceptions as rexc

from store.client import connect
from store.redis_server import PrivateRedis
from store.unavailable import is_unavailable

T = 0.4  # the client's budget in these tests


class Relay:
    """Loopback TCP relay to ``port``; :meth:`reset` aborts every relayed connection with RST."""

    def __init__(self, port: int) -> None:
        self.upstream = port
        self.lsock = socket.socket()
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(64)
        self.port = self.lsock.getsockname()[1]
        self.accepted = 0
        self._pairs: list[tuple[socket.socket, socket.socket]] = []
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.lsock.accept()
            except OSError:
                return
            up = socket.create_connection(("127.0.0.1", self.upstream))
            with self._lock:
                self._pairs.append((client, up))
                self.accepted += 1
            for a, b in ((client, up), (up, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass

    def reset(self) -> None:
        with self._lock:
            pairs, self._pairs = self._pairs, []
        for client, up in pairs:
            client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            client.close()  # SO_LINGER 0: RST, not FIN: the client sees no EOF, only a reset
            up.close()

    def close(self) -> None:
        self.reset()
        self.lsock.close()


@pytest.fixture
def relay(private_redis: PrivateRedis) -> Iterator[Relay]:
    r = Relay(private_redis.port)
    yield r
    r.close()


async def test_a_read_on_a_reset_pooled_connection_is_sent_again_on_a_fresh_one(
    relay: Relay,
) -> None:
    client = connect(f"redis://127.0.0.1:{relay.port}/0", T)
    key = f"pgtest:{uuid.uuid4().hex[:8]}:k"
    try:
        await client.set(key, "v")
        assert relay.accepted == 1
        relay.reset()
        await asyncio.sleep(0.1)  # the client's loop sees the reset (no EOF: the pool cannot tell)
        t0 = time.monotonic()
        assert await client.get(key) == b"v"
        assert time.monotonic() - t0 < T
        assert relay.accepted == 2  # one fresh connection
    finally:
        await client.aclose()


async def test_a_write_on_a_reset_pooled_connection_is_not_sent_again(relay: Relay) -> None:
    client = connect(f"redis://127.0.0.1:{relay.port}/0", T)
    key = f"pgtest:{uuid.uuid4().hex[:8]}:n"
    try:
        assert await client.incr(key) == 1
        relay.reset()
        await asyncio.sleep(0.1)
        with pytest.raises(rexc.ConnectionError) as err:
            await client.incr(key)
        assert is_unavailable(err.value)
        assert relay.accepted == 1  # nothing was sent again
        assert await client.get(key) == b"1"  # reads go on, on a fresh connection
    finally:
        await client.aclose()


async def test_a_transaction_whose_reply_is_lost_fails_within_the_budget_and_is_applied_once(
    private_redis: PrivateRedis,
) -> None:
    client = connect(private_redis.url, T)
    key = f"pgtest:{uuid.uuid4().hex[:8]}:n"
    pid = private_redis.pid
    assert pid is not None
    try:
        await client.set(key, 0)
        os.kill(pid, signal.SIGSTOP)
        t0 = time.monotonic()
        try:
            with pytest.raises(rexc.RedisError) as err:
                async with client.pipeline(transaction=True) as pipe:
                    pipe.incr(key)
                    await pipe.execute()
            took = time.monotonic() - t0
        finally:
            os.kill(pid, signal.SIGCONT)
        assert is_unavailable(err.value), repr(err.value)
        assert took < T * 1.5, took
        await asyncio.sleep(0.2)  # the server runs what it had received: the EXEC, once
        assert await client.get(key) == b"1"
    finally:
        await client.aclose()


async def test_a_freeze_inside_a_watch_fails_once_within_the_budget_not_as_a_watch_conflict(
    private_redis: PrivateRedis,
) -> None:
    """redis-py turns a connection lost while WATCHing into a WatchError (callers retry on
    those, taking it for a concurrent change) and reconnects for the UNWATCH of its reset (a
    second timeout against a frozen server). Neither happens here."""
    client = connect(private_redis.url, T)
    key = f"pgtest:{uuid.uuid4().hex[:8]}:w"
    pid = private_redis.pid
    assert pid is not None
    try:
        await client.set(key, 1)
        t0 = time.monotonic()
        try:
            with pytest.raises(rexc.RedisError) as err:
                async with client.pipeline(transaction=True) as pipe:
                    await pipe.watch(key)
                    os.kill(pid, signal.SIGSTOP)
                    t0 = time.monotonic()
                    await pipe.get(key)
            took = time.monotonic() - t0
        finally:
            os.kill(pid, signal.SIGCONT)
        assert not isinstance(err.value, rexc.WatchError), repr(err.value)
        assert is_unavailable(err.value), repr(err.value)
        assert took < T * 1.5, took
        assert await client.get(key) == b"1"  # and the client serves again
    finally:
        await client.aclose()


async def test_refused_connections_fail_at_once_and_the_client_recovers(
    private_redis: PrivateRedis,
) -> None:
    client = connect(private_redis.url, T)
    try:
        assert await client.ping()
        private_redis.kill()
        for _ in range(3):
            t0 = time.monotonic()
            with pytest.raises(rexc.ConnectionError):
                await client.get("x")
            assert time.monotonic() - t0 < T
        private_redis.start()
        assert await client.ping()
    finally:
        await client.aclose()
