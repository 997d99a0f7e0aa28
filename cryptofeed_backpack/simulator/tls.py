"""Loopback TLS for the simulator: a throw-away CA and a server certificate made at start.

cryptofeed's WSAsyncConn refuses anything but wss://, so the simulator must speak TLS; the CA
PEM is written to a temporary directory so any client (aiohttp, websockets, requests, ccxt)
can trust it by file path.
"""
from __future__ import annotations

import ssl
import tempfile
from dataclasses import dataclass
from pathlib import Path

import trustme


@dataclass
class LoopbackTLS:
    server_context: ssl.SSLContext
    ca_file: Path
    directory: tempfile.TemporaryDirectory

    def client_context(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context()
        ctx.load_verify_locations(cafile=str(self.ca_file))
        return ctx

    def cleanup(self) -> None:
        self.directory.cleanup()


def make_loopback_tls() -> LoopbackTLS:
    ca = trustme.CA(organization_name="cryptofeed-backpack simulator")
    cert = ca.issue_cert("127.0.0.1", "localhost", "::1")
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(server_ctx)
    directory = tempfile.TemporaryDirectory(prefix="backpack-sim-")
    ca_file = Path(directory.name) / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    return LoopbackTLS(server_context=server_ctx, ca_file=ca_file, directory=directory)
