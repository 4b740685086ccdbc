"""The console's user fixture, shared with tests/console."""

from tests.console.conftest import owner  # noqa: F401  (a fixture)
