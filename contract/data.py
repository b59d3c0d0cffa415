"""The data contract: tables, keys, indexes, failure paths, metric namespaces and metric names.

Plain data, standard library only: the ``DataTables`` component turns it into DynamoDB tables, the
stand-ins create the same tables in moto from it (``TableSchema.moto_kwargs``), the alarm catalogue
watches these namespaces and metric names, and the Lambdas import this very module as
``contract.data`` (the ``contract`` package is packaged into each zip and the SSE image).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from contract.naming import resource_name


@dataclass(frozen=True)
class Index:
    name: str
    hash_key: str
    range_key: Optional[str] = None


@dataclass(frozen=True)
class TableSchema:
    """One DynamoDB table (on-demand, string keys)."""

    logical: str  # e.g. "items"; the physical name is ``resource_name(env, logical)``
    hash_key: str
    range_key: Optional[str] = None
    indexes: tuple[Index, ...] = ()
    stream: bool = False
    ttl_attribute: Optional[str] = None
    env_var: str = ""  # how handlers learn the physical name

    def physical_name(self, env: str) -> str:
        return resource_name(env, self.logical)

    @property
    def attributes(self) -> list[str]:
        names = [self.hash_key] + ([self.range_key] if self.range_key else [])
        for idx in self.indexes:
            names += [idx.hash_key] + ([idx.range_key] if idx.range_key else [])
        return list(dict.fromkeys(names))

    def moto_kwargs(self, table_name: str) -> dict:
        """``create_table`` arguments for boto3 (tests create the same table in moto)."""
        def key_schema(h: str, r: Optional[str]) -> list[dict]:
            return [{"AttributeName": h, "KeyType": "HASH"}] + (
                [{"AttributeName": r, "KeyType": "RANGE"}] if r else [])

        kwargs: dict = {
            "TableName": table_name,
            "BillingMode": "PAY_PER_REQUEST",
            "KeySchema": key_schema(self.hash_key, self.range_key),
            "AttributeDefinitions": [{"AttributeName": a, "AttributeType": "S"} for a in self.attributes],
        }
        if self.indexes:
            kwargs["GlobalSecondaryIndexes"] = [
                {"IndexName": i.name, "KeySchema": key_schema(i.hash_key, i.range_key),
                 "Projection": {"ProjectionType": "ALL"}} for i in self.indexes]
        if self.stream:
            kwargs["StreamSpecification"] = {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"}
        return kwargs


ITEMS_BY_SENTIMENT, ITEMS_BY_TAG, ITEMS_BY_STATUS = "by_sentiment", "by_tag", "by_status"
#: Analysed items by when analysis scored them (``analyzed_at``, ISO-8601 UTC): the SSE feed's watermark, so an
#: item published long before it was analysed still streams (issue 9). Sparse: only analysed items have the key.
ITEMS_BY_SENTIMENT_ANALYZED = "by_sentiment_analyzed"
ANALYZED_AT = "analyzed_at"
USERS_BY_ENTITY_STATUS = "by_entity_status"

#: News items. ``status`` is ``pending`` until analysis sets ``analyzed``; ``sentiment`` is
#: ``positive``/``negative``/``neutral`` once scored; ``timestamp`` is ISO-8601 UTC.
ITEMS = TableSchema(
    logical="items", hash_key="source_id", range_key="timestamp", stream=True, ttl_attribute="ttl",
    indexes=(Index(ITEMS_BY_SENTIMENT, "sentiment", "timestamp"), Index(ITEMS_BY_TAG, "tag", "timestamp"),
             Index(ITEMS_BY_STATUS, "status", "timestamp"), Index(ITEMS_BY_SENTIMENT_ANALYZED, "sentiment", ANALYZED_AT)),
    env_var="ITEMS_TABLE")

#: Users, configurations (``PK=USER#{id}``, ``SK=CONFIG#{id}``, ``tickers`` list), circuit-breaker
#: state (``PK=CIRCUIT#{source}``, ``SK=STATE``), audit events (``PK=AUDIT#{date}``, ``SK={ts}#{id}``),
#: alert subscriptions (``PK=USER#{id}``, ``SK=ALERT#{id}``, ``email``, ``tickers``).
USERS = TableSchema(
    logical="users", hash_key="PK", range_key="SK",
    indexes=(Index("by_email", "email"), Index("by_cognito_sub", "cognito_sub"),
             Index(USERS_BY_ENTITY_STATUS, "entity_type", "status")),
    ttl_attribute="ttl", env_var="USERS_TABLE")

#: Sentiment time series: ``pk = "{ticker}#{resolution}"``, ``bucket`` = ISO start of the bucket.
TIMESERIES = TableSchema(logical="timeseries", hash_key="pk", range_key="bucket", ttl_attribute="ttl",
                         env_var="TIMESERIES_TABLE")

TABLES: tuple[TableSchema, ...] = (ITEMS, USERS, TIMESERIES)

#: The values analysis writes in ``sentiment``, the ``by_sentiment`` index's partitions (readers query each).
SENTIMENTS: tuple[str, ...] = ("positive", "negative", "neutral")


def configuration_key(user_id: str, config_id: str) -> dict[str, str]:
    """The users-table key of one user's configuration (``PK=USER#{id}``, ``SK=CONFIG#{id}``)."""
    return {"PK": f"USER#{user_id}", "SK": f"CONFIG#{config_id}"}


#: A ticker symbol as the dashboard API accepts it and analysis stores it (upper-cased): 1-10 ASCII letters or
#: digits. Anything else is refused before it reaches a key, an annotation or a log line.
TICKER_PATTERN = r"^[A-Za-z0-9]{1,10}$"

#: The 8 time-series resolutions of the analysis fan-out.
RESOLUTIONS: tuple[str, ...] = ("1m", "5m", "10m", "1h", "3h", "6h", "12h", "24h")

#: The 7 silent-failure paths (D5): FailurePath dimension values, subsegment names, one alarm each.
FAILURE_PATHS: tuple[str, ...] = (
    "circuit_breaker_load", "circuit_breaker_save", "audit_trail", "notification_delivery",
    "fanout_partial_write", "self_healing_fetch", "parallel_fetcher_aggregate")

#: Which Lambda owns each path (CloudWatch alarms need the exact dimension set it emits).
FAILURE_PATH_OWNER: dict[str, str] = {
    "circuit_breaker_load": "ingestion", "circuit_breaker_save": "ingestion", "audit_trail": "ingestion",
    "notification_delivery": "ingestion", "self_healing_fetch": "ingestion",
    "parallel_fetcher_aggregate": "ingestion", "fanout_partial_write": "analysis"}
