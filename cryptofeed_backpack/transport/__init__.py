"""The I/O edge: the REST client (the only way the package talks REST), the shared retry policy,
the proxy rule and the WebSocket connection."""
