"""Proxy helpers shared by the REST client and the WebSocket connection."""
from __future__ import annotations

from typing import Optional
from urllib.parse import urlsplit, urlunsplit


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
