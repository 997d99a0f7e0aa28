"""Real proxy servers for integration tests: Debian's tinyproxy (HTTP CONNECT) and microsocks (SOCKS5).

Each fixture starts its own process on a free 127.0.0.1 port with its own config and log in a
tmp dir, and yields a :class:`ProxyServer` whose ``targets()`` reads, from the proxy's own log,
which ``host:port`` it opened a tunnel to. That is the proof, from the proxy's side, that a
connection went through it.

Use from a test module (or a conftest) by importing the fixtures::

    from tests.integration.proxies import tinyproxy_server, microsocks_server  # noqa: F401

``scripts/install-system-deps.sh`` installs both programs; tests skip with that hint if absent.
"""
from __future__ import annotations

import re
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

import pytest

INSTALL_HINT = "run `bash scripts/install-system-deps.sh` (installs tinyproxy and microsocks)"

# tinyproxy (LogLevel Connect): 'Request (file descriptor 5): CONNECT 127.0.0.1:18765 HTTP/1.1'
_TINYPROXY_CONNECT = re.compile(r"Request \(file descriptor \d+\): CONNECT (\S+) HTTP/")
# microsocks 1.0.x on stderr: 'client[4] 127.0.0.1: connected to localhost:18765'
_MICROSOCKS_CONNECT = re.compile(r"client\[\d+\] \S+: connected to (\S+)")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_listening(port: int, proc: subprocess.Popen, what: str, log: Path) -> None:
    deadline = time.monotonic() + 10.0
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode} at start: {log.read_text(errors='replace')[-2000:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.02)
    raise RuntimeError(f"{what} did not listen on 127.0.0.1:{port}")


@dataclass
class ProxyServer:
    """A running proxy process. ``url`` includes credentials when the proxy requires them."""

    kind: str  # "tinyproxy" | "microsocks"
    host: str
    port: int
    log_path: Path
    proc: subprocess.Popen
    username: Optional[str] = None
    password: Optional[str] = None
    _pattern: re.Pattern = field(default=_TINYPROXY_CONNECT, repr=False)
    _log_file: Optional[object] = field(default=None, repr=False)

    def url_for(self, scheme: str) -> str:
        auth = f"{self.username}:{self.password}@" if self.username else ""
        return f"{scheme}://{auth}{self.host}:{self.port}"

    @property
    def url(self) -> str:
        return self.url_for("http" if self.kind == "tinyproxy" else "socks5")

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def targets(self) -> list[str]:
        """Every ``host:port`` the proxy tunnelled to, in order, as its log reports them."""
        return self._pattern.findall(self.log_text())

    def count(self, target: Optional[str] = None) -> int:
        seen = self.targets()
        return len(seen) if target is None else sum(1 for t in seen if t == target)

    def wait_for(self, predicate: Callable[["ProxyServer"], bool], timeout_s: float = 5.0) -> bool:
        """Poll the log until ``predicate(self)``: proxies write their log a moment after tunnelling."""
        deadline = time.monotonic() + timeout_s
        while True:
            if predicate(self):
                return True
            if time.monotonic() > deadline:
                return False
            time.sleep(0.02)

    @property
    def running(self) -> bool:
        return self.proc.poll() is None

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None


def start_tinyproxy(
    workdir: Path,
    *,
    connect_ports: tuple[int, ...] = (),
    basic_auth: Optional[tuple[str, str]] = None,
) -> ProxyServer:
    """Start tinyproxy in the foreground. No ``connect_ports`` means CONNECT to any port is allowed."""
    exe = shutil.which("tinyproxy")
    if exe is None:
        pytest.skip(f"tinyproxy is not installed; {INSTALL_HINT}")
    port = free_port()
    workdir.mkdir(parents=True, exist_ok=True)
    log = workdir / "tinyproxy.log"
    lines = [
        f"Port {port}",
        "Listen 127.0.0.1",
        "Timeout 30",
        "MaxClients 50",
        "Allow 127.0.0.1",
        f'LogFile "{log}"',
        "LogLevel Connect",
        f'PidFile "{workdir / "tinyproxy.pid"}"',
    ]
    lines += [f"ConnectPort {p}" for p in connect_ports]
    if basic_auth:
        lines.append(f"BasicAuth {basic_auth[0]} {basic_auth[1]}")
    conf = workdir / "tinyproxy.conf"
    conf.write_text("\n".join(lines) + "\n")
    out = open(workdir / "tinyproxy.stdout", "wb")
    proc = subprocess.Popen([exe, "-d", "-c", str(conf)], stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    server = ProxyServer("tinyproxy", "127.0.0.1", port, log, proc, *(basic_auth or (None, None)), _TINYPROXY_CONNECT, out)
    try:
        _wait_listening(port, proc, "tinyproxy", workdir / "tinyproxy.stdout")
    except Exception:
        server.stop()
        raise
    return server


def start_microsocks(workdir: Path, *, auth: Optional[tuple[str, str]] = None) -> ProxyServer:
    """Start microsocks; it reports each tunnel on stderr, which goes to ``microsocks.log``."""
    exe = shutil.which("microsocks")
    if exe is None:
        pytest.skip(f"microsocks is not installed; {INSTALL_HINT}")
    port = free_port()
    workdir.mkdir(parents=True, exist_ok=True)
    log = workdir / "microsocks.log"
    args = [exe, "-i", "127.0.0.1", "-p", str(port)]
    if auth:
        args += ["-u", auth[0], "-P", auth[1]]
    out = open(log, "wb")
    proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    server = ProxyServer("microsocks", "127.0.0.1", port, log, proc, *(auth or (None, None)), _MICROSOCKS_CONNECT, out)
    try:
        _wait_listening(port, proc, "microsocks", log)
    except Exception:
        server.stop()
        raise
    # the readiness probe above is a plain TCP connect, not a tunnel: it is not logged
    return server


@pytest.fixture
def tinyproxy_server(tmp_path):
    server = start_tinyproxy(tmp_path / "tinyproxy")
    yield server
    server.stop()


@pytest.fixture
def tinyproxy_auth_server(tmp_path):
    server = start_tinyproxy(tmp_path / "tinyproxy-auth", basic_auth=("proxyuser", "tiny-s3cret"))
    yield server
    server.stop()


@pytest.fixture
def microsocks_server(tmp_path):
    server = start_microsocks(tmp_path / "microsocks")
    yield server
    server.stop()


@pytest.fixture
def microsocks_auth_server(tmp_path):
    server = start_microsocks(tmp_path / "microsocks-auth", auth=("sockuser", "socks-s3cret"))
    yield server
    server.stop()


# ---- a TLS target that looks like Backpack's REST host ------------------------------------


@dataclass
class TlsTarget:
    """An aiohttp HTTPS server on 127.0.0.1 with a trustme CA; records the peer of each request."""

    port: int
    ca_file: Path
    peers: list = field(default_factory=list)
    paths: list = field(default_factory=list)

    def rest_url(self, host: str = "127.0.0.1") -> str:
        return f"https://{host}:{self.port}"


_TARGET_RESPONSES = {
    "/api/v1/status": (b'{"message":null,"status":"Ok"}', "application/json"),
    "/api/v1/time": (b"1790133798064", "text/plain"),
    "/api/v1/depth": (
        b'{"asks":[["118318.3","0.00633"],["118567.2","0.08450"]],"bids":[["1.0","0.38647"],["12.9","1.00000"]],'
        b'"lastUpdateId":"1504999670","timestamp":1753102447307501}',
        "application/json",
    ),
}


@pytest.fixture
async def tls_target(tmp_path):
    """HTTPS target for REST/proxy tests, certificate valid for 127.0.0.1 and localhost."""
    import ssl

    import trustme
    from aiohttp import web

    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    ca_file = tmp_path / "target-ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(server_ctx)
    target = TlsTarget(0, ca_file)

    async def handle(request: web.Request) -> web.Response:
        target.peers.append(request.transport.get_extra_info("peername")[:2] if request.transport else None)
        target.paths.append(request.path_qs)
        body, ctype = _TARGET_RESPONSES.get(request.path, (b"not found", "text/plain"))
        status = 200 if request.path in _TARGET_RESPONSES else 404
        return web.Response(status=status, body=body, content_type=ctype)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=server_ctx)
    await site.start()
    target.port = site._server.sockets[0].getsockname()[1]
    yield target
    await runner.cleanup()
