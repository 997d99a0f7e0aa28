"""The pure wire layer: one msgspec Struct per Backpack message (WebSocket and REST), with the
function that turns it into a cryptofeed object beside it, grouped by API domain.

Rule (docs/architecture.md): nothing here imports an I/O library or anything from ``transport/``
or ``feed/``. Units (docs/protocol.md): stream ``E``/``T`` are µs, kline ``t``/``T`` naive-UTC ISO
strings, markPrice ``n`` and REST trade/open-interest times ms, REST depth ``timestamp`` µs.
"""
