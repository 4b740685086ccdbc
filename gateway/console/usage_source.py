"""The rollup selectors the console reads (one import site, so the pages follow them if they
move)."""

from gateway.usage_selectors import usage_series, usage_totals

__all__ = ["usage_series", "usage_totals"]
