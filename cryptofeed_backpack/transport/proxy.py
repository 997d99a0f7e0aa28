"""The proxy rule shared by the REST client (and so symbol loading) and the WebSocket connection.

One rule decides the route of every connection (docs/proxies.md):

1. an explicit proxy in ``BackpackConfig.proxies`` (``rest``/``websocket`` win over ``url``);
2. otherwise ``proxies.direct=True`` means no proxy at all, whatever the environment says;
3. otherwise the environment: ``HTTPS_PROXY`` (``WSS_PROXY`` first for WebSockets), then
   ``ALL_PROXY``, minus hosts listed in ``NO_PROXY``;
4. otherwise a direct connection.

We resolve the environment ourselves instead of delegating to the libraries because they
disagree: aiohttp's ``trust_env`` ignores ``ALL_PROXY`` and SOCKS proxies, websockets ignores
``ALL_PROXY``. Resolving once here gives REST and WebSocket the same route.

Proxy URLs may carry ``user:password``; anything meant for a log, a repr or an exception goes
through :func:`redact_proxy_url` first.
"""
from __future__ import annotations

import urllib.request
from dataclasses import dataclass, field
from typing import Optional
from urllib.parse import unquote, urlsplit, urlunsplit

from ..errors import BackpackConfigError

PROXY_SCHEMES = ("http", "https", "socks5", "socks5h")
SOCKS_SCHEMES = ("socks5", "socks5h")


def redact_proxy_url(url: Optional[str]) -> Optional[str]:
    """The proxy URL with any user:password replaced, safe for logs and reprs."""
    if not url:
        return url
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, f"***@{host}", parts.path, parts.query, parts.fragment))


@dataclass(frozen=True)
class ProxyRoute:
    """Where one kind of connection goes. ``url`` may hold credentials: never log it, log ``redacted``."""

    url: Optional[str]
    source: str  # "config" | "environment" | "direct" | "none"
    env_var: Optional[str] = field(default=None)

    @property
    def scheme(self) -> Optional[str]:
        return urlsplit(self.url).scheme if self.url else None

    @property
    def redacted(self) -> Optional[str]:
        return redact_proxy_url(self.url)

    @property
    def is_socks(self) -> bool:
        return self.scheme in SOCKS_SCHEMES

    def describe(self) -> str:
        """One line for logs and error messages, never with credentials."""
        if self.url is None:
            return {"direct": "no proxy (proxies.direct=True)"}.get(self.source, "no proxy")
        origin = f"from ${self.env_var}" if self.env_var else "from BackpackConfig.proxies"
        return f"proxy {self.redacted} ({origin})"

    def __repr__(self) -> str:
        return f"ProxyRoute(url={self.redacted!r}, source={self.source!r}, env_var={self.env_var!r})"

    __str__ = __repr__


def _env_proxy(target_url: str, keys: tuple[str, ...]) -> ProxyRoute:
    host = urlsplit(target_url).hostname or ""
    env = urllib.request.getproxies_environment()
    if host and env.get("no") and urllib.request.proxy_bypass_environment(host, env):
        return ProxyRoute(None, "none")
    for key in keys:
        value = env.get(key)
        if not value:
            continue
        var = f"{key.upper()}_PROXY"
        parts = urlsplit(value)
        if parts.scheme not in PROXY_SCHEMES or not parts.hostname or parts.port is None:
            raise BackpackConfigError.for_field(
                "proxies",
                f"environment variable {var}={redact_proxy_url(value)!r} is not a usable proxy URL",
                f"use scheme://host:port with scheme one of {', '.join(PROXY_SCHEMES)}, "
                "or set proxies={'direct': True} to ignore the environment",
            )
        return ProxyRoute(value, "environment", var)
    return ProxyRoute(None, "none")


def _route(explicit: Optional[str], direct: bool, target_url: str, env_keys: tuple[str, ...]) -> ProxyRoute:
    if explicit:
        return ProxyRoute(explicit, "config")
    if direct:
        return ProxyRoute(None, "direct")
    return _env_proxy(target_url, env_keys)


def _env_keys(target_url: str) -> tuple[str, ...]:
    scheme = urlsplit(target_url).scheme
    if scheme == "wss":
        return ("wss", "https", "all")
    if scheme == "ws":
        return ("ws", "http", "all")
    return (scheme, "all")


def rest_proxy_route(config) -> ProxyRoute:
    """The route of REST calls (and symbol loading) for ``config`` (a BackpackConfig)."""
    p = config.proxies
    return _route(p.rest or p.url, p.direct, config.rest_url, _env_keys(config.rest_url))


def websocket_proxy_route(config) -> ProxyRoute:
    """The route of WebSocket connections for ``config``."""
    p = config.proxies
    return _route(p.websocket or p.url, p.direct, config.ws_url, _env_keys(config.ws_url))


def ws_proxy_argument(config) -> Optional[str]:
    """The value for websockets' ``connect(proxy=...)``.

    Always a URL or None, never True: None disables websockets' own environment lookup, which
    we replace by the shared rule above (so ``direct=True`` and ``ALL_PROXY`` behave the same for
    REST and WebSocket). websockets 17 accepts http://, https:// and socks5(h):// proxies (SOCKS
    through python-socks).
    """
    return websocket_proxy_route(config).url


@dataclass(frozen=True)
class RestProxySettings:
    """What aiohttp needs: either ``proxy`` (HTTP CONNECT, per request) or a SOCKS connector."""

    route: ProxyRoute
    http_proxy: Optional[str]  # for aiohttp's ``proxy=`` argument
    socks_url: Optional[str]  # for aiohttp_socks.ProxyConnector
    rdns: bool  # socks5h: the proxy resolves the host name

    def __repr__(self) -> str:
        return f"RestProxySettings(route={self.route!r}, rdns={self.rdns})"


def rest_proxy_settings(config) -> RestProxySettings:
    route = rest_proxy_route(config)
    if route.url is None:
        return RestProxySettings(route, None, None, False)
    if route.is_socks:
        return RestProxySettings(route, None, route.url, route.scheme == "socks5h")
    return RestProxySettings(route, route.url, None, False)


def make_connector(settings: RestProxySettings, ssl_context=None):
    """An aiohttp connector for ``settings``; must be called inside the running event loop."""
    import aiohttp

    if settings.socks_url is None:
        return aiohttp.TCPConnector(ssl=ssl_context if ssl_context is not None else True)
    from aiohttp_socks import ProxyConnector, ProxyType

    parts = urlsplit(settings.socks_url)
    return ProxyConnector(
        host=parts.hostname,
        port=parts.port,
        proxy_type=ProxyType.SOCKS5,
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
        rdns=settings.rdns,
        ssl=ssl_context if ssl_context is not None else True,
    )
