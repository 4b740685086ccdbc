"""The fuzz suite's models beyond the input-shape tests' three, and its account's credits."""

from __future__ import annotations

FUZZ_CREDITS = 10**12
# Injected upstream faults: every route of these fails (HTTP 500, then a body that is not
# JSON; Anthropic's 529 overloaded), so the client must get a JSON 502, and pay nothing.
BROKEN_GPT, BROKEN_CLAUDE = "test/broken-gpt", "test/broken-claude"
