"""``python -m tools.backpack_auth_check``: the same checker as ``cryptofeed-backpack auth-check``."""
from __future__ import annotations

import sys

from cryptofeed_backpack.auth_check import main

if __name__ == "__main__":
    sys.exit(main(prog="python -m tools.backpack_auth_check"))
