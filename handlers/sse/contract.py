"""Names shared with the program (``components/schema.py``), restated here because the image's build
context is ``handlers/sse`` alone. ``tests/sse/test_contract.py`` keeps the two equal."""
from __future__ import annotations

SSE_NAMESPACE = "SentimentAnalyzer/SSE"
RESOLUTIONS: tuple[str, ...] = ("1m", "5m", "10m", "1h", "3h", "6h", "12h", "24h")
