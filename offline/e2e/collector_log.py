"""Log lines the ADOT collector extension writes into its function's log group, as the collector writes them.

The collector logs with zap: by default its console encoding (``ts<TAB>level<TAB>caller<TAB>msg<TAB>{fields}``),
or JSON when ``service.telemetry.logs.encoding: json``. The messages are the collector's exporterhelper's own
(opentelemetry-collector ``exporter/exporterhelper``): ``Exporting failed. Dropping data.`` (error level, spans
lost), ``Exporting failed. Rejecting data.`` (error level, returned to the receiver when the queue is off), and in
older collectors ``Exporting failed. The error is not retryable. Dropping data.``; the retry line (``Exporting
failed. Will retry the request after interval.``) is info level, below the ``warn`` the config keeps. The error
texts are X-Ray's (an IAM denial of PutTraceSegments, a timeout to the TraceSegments endpoint).

The end-to-end run puts these lines into the declared log group and asks the declared metric filter to count them,
since no collector binary runs here.
"""
from __future__ import annotations

import json

from contract.streaming import SERVICE_NAME

_FIELDS = '{"kind": "exporter", "data_type": "traces", "name": "awsxray", '
_DENIED = ("AccessDeniedException: User: arn:aws:sts::123456789012:assumed-role/sse/fn is not authorized to perform: "
           "xray:PutTraceSegments because no identity-based policy allows the xray:PutTraceSegments action")
_TIMEOUT = 'Post \\"https://xray.us-east-1.amazonaws.com/TraceSegments\\": context deadline exceeded'

#: Lines that mean spans were lost between the collector and X-Ray: each must be counted.
EXPORT_FAILURES: tuple[str, ...] = (
    "2025-06-02T10:15:27.448Z\terror\texporterhelper/queue_sender.go:101\tExporting failed. Dropping data.\t"
    + _FIELDS + f'"error": "{_DENIED}", "dropped_items": 3}}',
    "2025-06-02T10:15:29.012Z\terror\texporterhelper/common.go:296\tExporting failed. Rejecting data.\t"
    + _FIELDS + f'"error": "{_TIMEOUT}", "rejected_items": 64}}',
    "2024-02-05T15:50:27.448Z\terror\texporterhelper/queue_sender.go:90\t"
    "Exporting failed. The error is not retryable. Dropping data.\t"
    + _FIELDS + f'"error": "Permanent error: {_DENIED}", "dropped_items": 1}}',
    json.dumps({"level": "error", "ts": 1748859327.448, "caller": "exporterhelper/queue_sender.go:101",
                "msg": "Exporting failed. Dropping data.", "kind": "exporter", "data_type": "traces",
                "name": "awsxray", "error": _DENIED, "dropped_items": 5}),
)

#: Lines of a healthy function (the collector starting, the app's own JSON log): none may be counted.
HEALTHY: tuple[str, ...] = (
    "2025-06-02T10:15:01.100Z\tinfo\tservice@v0.115.0/service.go:261\tEverything is ready. "
    "Begin running and processing data.",
    json.dumps({"level": "INFO", "location": "_acquired:123", "message": "stream opened",
                "timestamp": "2025-06-02 10:15:02,000+0000", "service": SERVICE_NAME,
                "connection_id": "c-1", "stream_type": "global"}),
    json.dumps({"level": "WARNING", "location": "put_metrics:88", "message": "PutMetricData failed",
                "timestamp": "2025-06-02 10:15:03,000+0000", "service": SERVICE_NAME,
                "exception_type": "EndpointConnectionError", "metric_count": 4}),
)
