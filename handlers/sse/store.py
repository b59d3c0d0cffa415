"""The app's DynamoDB reads: newly analysed items from the ``by_sentiment_analyzed`` index, and one configuration.

Blocking boto3 calls, made from the IO pool (``service.run_io``). One low-level client per process (boto3
clients are thread-safe, resources are not), with the bounded settings of ``aws.client_config``. Each call
is a CLIENT span with the DynamoDB semantic attributes (FR-027); no botocore instrumentation is installed
(FR-060). Items come back as plain JSON values (no ``Decimal``, no sets), ready for an event's data.
"""
from __future__ import annotations

import threading
from decimal import Decimal
from typing import Any, Optional

from opentelemetry.context import Context
from opentelemetry.trace import SpanKind

from contract.data import ANALYZED_AT, ITEMS_BY_SENTIMENT_ANALYZED, configuration_key
from handlers.sse.telemetry import StreamTracer

#: A poll reads at most this many pages per sentiment (a burst beyond that waits for the next poll).
MAX_PAGES = 5


def plain(value: Any) -> Any:
    """DynamoDB's numbers and sets as JSON values."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, (set, frozenset)):
        return sorted(plain(v) for v in value)
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    return value


class Store:
    def __init__(self, items_table: str, users_table: str):
        self.items_table = items_table
        self.users_table = users_table
        self._client: Any = None
        self._deserializer: Any = None
        self._lock = threading.Lock()

    def client(self) -> Any:
        """The process's DynamoDB client, built on first use (the lifespan builds it during INIT)."""
        if self._client is None:
            with self._lock:
                if self._client is None:
                    import boto3
                    from boto3.dynamodb.types import TypeDeserializer

                    from handlers.sse.aws import client_config

                    self._deserializer = TypeDeserializer()
                    self._client = boto3.client("dynamodb", config=client_config())
        return self._client

    def _item(self, raw: dict) -> dict:
        return {k: plain(self._deserializer.deserialize(v)) for k, v in raw.items()}

    def items_since(self, st: StreamTracer, parent: Context, sentiment: str, after: str) -> list[dict]:
        """Items of ``sentiment`` analysed later than ``after`` (ISO-8601), oldest analysis first. By analysis
        time, not publication time: an old article analysed now is news to the stream (issue 9)."""
        with st.span("DynamoDB.Query", kind=SpanKind.CLIENT, parent=parent, attributes=_attributes(
                "Query", self.items_table, **{"aws.dynamodb.index_name": ITEMS_BY_SENTIMENT_ANALYZED})) as span:
            out: list[dict] = []
            kwargs: dict = {"TableName": self.items_table, "IndexName": ITEMS_BY_SENTIMENT_ANALYZED,
                            "KeyConditionExpression": "sentiment = :s AND #at > :w",
                            "ExpressionAttributeNames": {"#at": ANALYZED_AT},
                            "ExpressionAttributeValues": {":s": {"S": sentiment}, ":w": {"S": after}}}
            for _ in range(MAX_PAGES):
                page = self.client().query(**kwargs)
                out += [self._item(raw) for raw in page.get("Items", [])]
                span.set(**{"aws.request_id": page.get("ResponseMetadata", {}).get("RequestId")})
                if "LastEvaluatedKey" not in page:
                    break
                kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
            span.set(**{"aws.dynamodb.count": len(out)})
            return out

    def configuration(self, st: StreamTracer, user_id: str, config_id: str) -> Optional[dict]:
        """The user's configuration, or None when there is none (the caller answers 404)."""
        with st.span("DynamoDB.GetItem", kind=SpanKind.CLIENT, attributes=_attributes("GetItem", self.users_table)) as span:
            key = {k: {"S": v} for k, v in configuration_key(user_id, config_id).items()}
            response = self.client().get_item(TableName=self.users_table, Key=key)
            span.set(**{"aws.request_id": response.get("ResponseMetadata", {}).get("RequestId")})
            raw = response.get("Item")
            return None if raw is None else self._item(raw)


def _attributes(operation: str, table: str, **extra: Any) -> dict[str, Any]:
    """OpenTelemetry's database and AWS-API semantic conventions of one DynamoDB call."""
    return {"db.system": "dynamodb", "db.operation": operation, "rpc.system": "aws-api", "rpc.service": "DynamoDB",
            "rpc.method": operation, "aws.dynamodb.table_names": [table], **extra}
