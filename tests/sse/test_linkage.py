"""Issue 9, trace linkage rests on one unverified header: a request without ``x-amzn-trace-id`` (and without
``_X_AMZN_TRACE_ID``) used to become a new root silently. Now the app warns and counts ``UnlinkedRequests``."""
from __future__ import annotations

import time

import pytest

from contract import metrics as metric_names
from contract.xray import TRACE_HEADER
from tests.sse.harness import FUNCTION_NAME, SSE, new_parent, new_root, trace_header

#: Its own FunctionName dimension, so the count is this app's alone (other tests' requests carry no header too).
UNLINKED_FUNCTION = f"{FUNCTION_NAME}-linkage"


@pytest.fixture(scope="module")
def linkage_app(app_factory, receiver):
    return app_factory(receiver.endpoint, AWS_LAMBDA_FUNCTION_NAME=UNLINKED_FUNCTION)


def _unlinked_sum(moto) -> float:
    stats = moto.client("cloudwatch").get_metric_statistics(
        Namespace=metric_names.SSE_NAMESPACE, MetricName=metric_names.UNLINKED_REQUESTS,
        Dimensions=[{"Name": metric_names.FUNCTION_DIMENSION, "Value": UNLINKED_FUNCTION}],
        StartTime=time.time() - 600, EndTime=time.time() + 60, Period=60, Statistics=["Sum"])
    return sum(p["Sum"] for p in stats["Datapoints"])


def _warnings(app) -> list[dict]:
    return [line for line in app.log_lines() if line.get("unlinked_trace") is True]


def test_issue9_a_request_without_trace_context_is_warned_about_and_counted(linkage_app, moto):
    root = new_root()
    with SSE(f"{linkage_app.url}/api/v2/stream", {"X-Amzn-Trace-Id": trace_header(root, new_parent())}) as linked:
        linked.until(lambda e: e.event == "connected", 5)
    assert not _warnings(linkage_app)  # a linked request says nothing

    with SSE(f"{linkage_app.url}/api/v2/stream") as unlinked:
        connected = unlinked.until(lambda e: e.event == "connected", 5)
        new_trace = connected.json["trace_id"]
    assert new_trace != root
    end = time.monotonic() + 10  # the stream's metrics are put when it closes
    while (_unlinked_sum(moto) < 1 or not _warnings(linkage_app)) and time.monotonic() < end:
        time.sleep(0.1)
    (warning,) = _warnings(linkage_app)
    assert warning["level"] == "WARNING" and TRACE_HEADER in warning["message"]
    assert warning["xray_trace_id"] == new_trace  # the line leads to the unlinked trace
    assert _unlinked_sum(moto) == 1
