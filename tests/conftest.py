import pytest
from cryptofeed.symbols import Symbols


@pytest.fixture
def clean_symbols():
    """Each test that seeds BACKPACK symbols starts and ends with an empty table."""
    Symbols.data.pop("BACKPACK", None)
    yield
    Symbols.data.pop("BACKPACK", None)
