"""The API's doctests (mer_live/api.py, collected from pyproject's testpaths) run the engine on the
demo recording: they count as slow, so `make test-fast` leaves them to `make test`."""

import pytest


def pytest_collection_modifyitems(items):
    for item in items:
        if isinstance(item, pytest.DoctestItem):
            item.add_marker(pytest.mark.slow)
