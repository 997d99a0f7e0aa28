"""Real redis-server and PostgreSQL for the collect suites, each on a free loopback port in a temp dir.

Both come from Debian (scripts/install-system-deps.sh, run by `make test`). PostgreSQL refuses to
run as root, so when the suite runs as root its cluster belongs to the `postgres` system user.
"""
from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass

import pytest

INSTALL_HINT = "run `bash scripts/install-system-deps.sh` (or `make test`), which installs it from Debian"
START_BOUND_S = 30.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_port(port: int, proc: subprocess.Popen | None, what: str) -> None:
    deadline = time.monotonic() + START_BOUND_S
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            pytest.fail(f"{what} exited with {proc.returncode} before listening")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    pytest.fail(f"{what} did not listen on 127.0.0.1:{port} within {START_BOUND_S}s")


@dataclass
class RedisServer:
    port: int


@pytest.fixture
def redis_server():
    exe = shutil.which("redis-server")
    if exe is None:
        pytest.fail(f"redis-server is not installed: {INSTALL_HINT}")
    workdir = tempfile.mkdtemp(prefix="cfbp-redis-")
    port = free_port()
    proc = subprocess.Popen([exe, "--port", str(port), "--bind", "127.0.0.1", "--dir", workdir, "--save", "",
                             "--appendonly", "no", "--daemonize", "no", "--loglevel", "warning"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_port(port, proc, "redis-server")
        yield RedisServer(port)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        shutil.rmtree(workdir, ignore_errors=True)


@dataclass
class PostgresServer:
    port: int
    user: str = "collect"
    db: str = "postgres"

    def dsn(self) -> dict:
        return {"host": "127.0.0.1", "port": self.port, "user": self.user, "database": self.db}


def _pg_bin() -> str:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    if not found:
        pytest.fail(f"PostgreSQL is not installed: {INSTALL_HINT}")
    return os.path.dirname(found[-1])


def _as_cluster_owner(argv: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *argv] if os.geteuid() == 0 else argv


@pytest.fixture
def postgres_server():
    bindir = _pg_bin()
    workdir = tempfile.mkdtemp(prefix="cfbp-pg-")
    data = os.path.join(workdir, "data")
    if os.geteuid() == 0:
        shutil.chown(workdir, "postgres", "postgres")
    port = free_port()
    run = lambda argv: subprocess.run(_as_cluster_owner(argv), check=True, capture_output=True, text=True)  # noqa: E731
    try:
        run([f"{bindir}/initdb", "-D", data, "-U", "collect", "--auth=trust", "--no-sync", "-E", "UTF8"])
        run([f"{bindir}/pg_ctl", "-D", data, "-l", os.path.join(workdir, "log"), "-w", "-t", str(int(START_BOUND_S)),
             "-o", f"-p {port} -k {workdir} -c listen_addresses=127.0.0.1 -c fsync=off", "start"])
        _wait_port(port, None, "postgres")
        yield PostgresServer(port)
    except subprocess.CalledProcessError as exc:
        pytest.fail(f"postgres did not start: {exc.stderr or exc.stdout}")
    finally:
        subprocess.run(_as_cluster_owner([f"{bindir}/pg_ctl", "-D", data, "-m", "fast", "-w", "stop"]),
                       capture_output=True)
        shutil.rmtree(workdir, ignore_errors=True)
