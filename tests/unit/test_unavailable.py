"""store.unavailable: which Redis failures mean "cannot serve now" (503), and which are bugs.

The replies are parsed by redis-py's own parser, as they are in the services: it strips the
code from the messages it knows (``OOM ...`` becomes ``OutOfMemoryError("command not ...")``).
"""

from __future__ import annotations

import pytest
from redis import exceptions as rexc
from redis._parsers.base import BaseParser

from store.unavailable import StoreUnavailable, is_unavailable

parse = BaseParser.parse_error


@pytest.mark.parametrize(
    "reply",
    [
        "LOADING Redis is loading the dataset in memory",
        "BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.",
        "READONLY You can't write against a read only replica.",
        "MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'.",
        "OOM command not allowed when used memory > 'maxmemory'.",
        "CLUSTERDOWN The cluster is down",
        "TRYAGAIN Multiple keys request during rehashing of slot",
        "NOREPLICAS Not enough good replicas to write.",
    ],
)
def test_server_replies_that_mean_cannot_serve_now(reply: str) -> None:
    assert is_unavailable(parse(reply)), (reply, type(parse(reply)), str(parse(reply)))
    assert is_unavailable(rexc.ResponseError(reply))  # unparsed, the code still in the message


@pytest.mark.parametrize(
    "reply",
    [
        "WRONGTYPE Operation against a key holding the wrong kind of value",
        "ERR Error running script (call to f_x): @user_script:1: boom",
        "NOPERM this user has no permissions to run the 'config|get' command",
        "ERR unknown command 'CONFIG', with args beginning with: 'GET' 'appendonly'",
        "EXECABORT Transaction discarded because of previous errors.",
        "NOSCRIPT No matching script. Please use EVAL.",
    ],
)
def test_replies_that_are_not_unavailability(reply: str) -> None:
    assert not is_unavailable(parse(reply)), (reply, type(parse(reply)))


def test_connection_failures_and_timeouts_are_unavailability() -> None:
    assert is_unavailable(rexc.ConnectionError("Error 111 connecting to 127.0.0.1:6379."))
    assert is_unavailable(rexc.TimeoutError("Timeout reading from 127.0.0.1:6379"))
    assert is_unavailable(rexc.BusyLoadingError("Redis is loading the dataset in memory"))
    assert is_unavailable(StoreUnavailable("Redis did not answer within 1s"))


def test_bugs_are_not_unavailability() -> None:
    for exc in (ValueError("x"), KeyError("k"), rexc.DataError("bad arg"), rexc.WatchError(),
                rexc.InvalidResponse("garbage"), OSError("disk full")):  # fmt: skip
        assert not is_unavailable(exc), exc


def test_a_gateway_lookup_fails_closed_on_the_store_and_open_on_a_bug() -> None:
    import asyncio

    from gateway.app import _fail_closed

    async def raising(exc: BaseException) -> None:
        raise exc

    for store_failure in (rexc.ConnectionError("gone"), rexc.TimeoutError("slow"), ConnectionResetError(),
                          TimeoutError(), asyncio.IncompleteReadError(b"", 1)):  # fmt: skip
        with pytest.raises(StoreUnavailable):
            asyncio.run(_fail_closed(raising(store_failure)))
    # a bug of ours is not "Redis is unreachable": it stays what it is (a logged 500)
    with pytest.raises(AttributeError):
        asyncio.run(_fail_closed(raising(AttributeError("'Keys' object has no attribute 'code'"))))
