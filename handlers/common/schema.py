"""The slice of ``components/schema.py`` that runs inside the Lambdas.

The deployment zip holds only ``app.py`` and ``common/`` (``components/packaging.py``), so the handlers cannot
import ``components.schema`` at run time. These values are the same objects' values, and
``tests/handlers/test_common.py::test_schema_slice_matches_components_schema`` fails on any drift.
"""
from __future__ import annotations

RESOLUTIONS: tuple[str, ...] = ("1m", "5m", "10m", "1h", "3h", "6h", "12h", "24h")
FAILURE_PATHS: tuple[str, ...] = (
    "circuit_breaker_load", "circuit_breaker_save", "audit_trail", "notification_delivery",
    "fanout_partial_write", "self_healing_fetch", "parallel_fetcher_aggregate")
SILENT_FAILURE_NAMESPACE = "SentimentAnalyzer/Reliability"
SILENT_FAILURE_METRIC = "SilentFailure"
APP_NAMESPACE = "SentimentAnalyzer"
INGESTION_NAMESPACE = "SentimentAnalyzer/Ingestion"

# Items table (hash source_id, range timestamp) and its indexes
ITEMS_BY_SENTIMENT, ITEMS_BY_TAG, ITEMS_BY_STATUS = "by_sentiment", "by_tag", "by_status"
# Users table (PK/SK) and the index the handlers query configurations and alerts through
USERS_BY_ENTITY_STATUS = "by_entity_status"
