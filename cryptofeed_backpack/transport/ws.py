"""cryptofeed's WSAsyncConn with errors a user can act on.

A failed connect (exchange down, TLS not trusted, proxy unreachable or refusing) becomes a
BackpackConnectionError naming the address, the route (proxy redacted) and the fix, instead of a
bare socket or python-socks traceback. cryptofeed's ConnectionHandler then logs it and retries.
"""
from __future__ import annotations

import ssl

from cryptofeed.connection import WSAsyncConn

from ..errors import BackpackConnectionError


class BackpackWSConn(WSAsyncConn):
    def __init__(self, address: str, conn_id: str, route, on_error=None, **kwargs):
        super().__init__(address, conn_id, **kwargs)
        self.route = route
        self.on_error = on_error

    async def _open(self):
        try:
            await super()._open()
        except ssl.SSLCertVerificationError as exc:
            raise self._fail(exc, "the server certificate is not trusted; set BackpackConfig.ca_file to the CA "
                                  "bundle (the simulator prints its CA file)") from None
        except (OSError, ConnectionError) as exc:
            raise self._fail(exc, self._fix()) from None
        except Exception as exc:
            # python-socks raises its own ProxyError family, not OSError
            if type(exc).__module__.startswith("python_socks") or "proxy" in type(exc).__name__.lower():
                raise self._fail(exc, self._fix()) from None
            raise

    def _fix(self) -> str:
        if self.route.url:
            return f"check that {self.route.describe()} is running and allows CONNECT to this host and port"
        return "check the network path to the exchange, or configure proxies={'url': 'socks5://host:port'}"

    def _fail(self, exc: BaseException, fix: str) -> BackpackConnectionError:
        error = BackpackConnectionError(
            f"websocket connect to {self.address} via {self.route.describe()} failed: {type(exc).__name__}: {exc}", fix=fix)
        if self.on_error is not None:
            self.on_error(error)
        return error
