"""The cryptofeed glue for the one BackpackFeed: ``core`` subscribes and dispatches by the stream
table; ``book``, ``trades``, ``market`` and ``account`` each own one channel family and its state;
``rest`` is cryptofeed's REST interface."""
from .core import BackpackFeed

__all__ = ["BackpackFeed"]
