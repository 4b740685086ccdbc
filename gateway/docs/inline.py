"""The documents' Markdown inline code (`x`) as HTML for the reference page: the text is
escaped first, so nothing in a description can inject markup."""

from __future__ import annotations

import re

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

_CODE = re.compile(r"`([^`]+)`")


def inline_html(text: str) -> SafeString:
    return mark_safe(_CODE.sub(r"<code>\1</code>", escape(text)))  # noqa: S308  (escaped above)
