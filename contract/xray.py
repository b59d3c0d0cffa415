"""X-Ray's rules as the system relies on them: permissions, name limits, quotas, document bounds.

The AWS documentation each number comes from is listed in docs/aws-facts.md.
"""
from __future__ import annotations

import re

#: The five actions every traced function's role is given. Lambda's own tracing needs only the two ``Put*``
#: (Lambda samples by itself, docs/aws-facts.md SMP-5); the ``GetSampling*`` trio is what an X-Ray SDK or a
#: collector consulting the centralized rules asks for, so a role that runs one keeps its rules. Harmless otherwise.
XRAY_ACTIONS: tuple[str, ...] = ("xray:PutTraceSegments", "xray:PutTelemetryRecords", "xray:GetSamplingRules",
                                 "xray:GetSamplingTargets", "xray:GetSamplingStatisticSummaries")
#: AWS managed policies and what they grant, by policy name (matched on the ARN's last path segment), as AWS's
#: pages state it (docs/aws-facts.md PRM-2, PRM-3). ``AWSXrayWriteOnlyAccess`` is listed with the two ``Put*``
#: actions only. The console's ``AWSLambdaTracerAccessExecutionRole-<uuid>`` is a customer-managed policy, not an
#: AWS one (PRM-4): its document is in the account, not here, so it is not assumed to grant anything.
XRAY_MANAGED_POLICIES: dict[str, tuple[str, ...]] = {
    "AWSXRayDaemonWriteAccess": XRAY_ACTIONS,
    "AWSXrayWriteOnlyAccess": ("xray:PutTraceSegments", "xray:PutTelemetryRecords"),
    "AWSXrayFullAccess": ("xray:*",),
}

#: Sampling-rule and group names longer than this fail at deploy time.
MAX_NAME_LENGTH = 32
#: Sampling rules, and groups, per region.
MAX_PER_REGION = 25

#: Indexed annotations per trace X-Ray keeps; the services share it by budget (decision D10).
MAX_ANNOTATIONS_PER_TRACE = 50
ANNOTATION_BUDGET_SSE = 25
ANNOTATION_BUDGET_BUFFERED = 15   # dashboard <= 15; ingestion and analysis share a trace and stay far below 50
ANNOTATION_BUDGET_CANARY = 10
#: OpenTelemetry's ``record_exception`` costs this many annotation keys of a span's budget.
EXCEPTION_ANNOTATION_COST = 3
#: The span attribute that lists which attribute keys the awsxray exporter indexes as annotations (the rest
#: become metadata): OpenTelemetry spans name their annotations this way.
ANNOTATIONS_ATTRIBUTE = "aws.xray.annotations"
ANNOTATION_KEY = re.compile(r"^[A-Za-z0-9_]{1,250}$")
MAX_ANNOTATION_STR = 1000

#: Every segment document stays below X-Ray's 64 KB per document.
MAX_DOCUMENT_BYTES = 64 * 1024 - 1
MAX_ERROR_MESSAGE = 2048
MAX_STACK_FRAMES = 10
MAX_METADATA_VALUE_BYTES = 8 * 1024

#: ``1-<8 hex epoch>-<24 hex>``: an X-Ray trace id, as logs and SSE events carry it.
TRACE_ID = re.compile(r"1-[0-9a-f]{8}-[0-9a-f]{24}")
#: The trace header as API Gateway, Lambda and the Web Adapter pass it.
TRACE_HEADER = "x-amzn-trace-id"
TRACE_ENV = "_X_AMZN_TRACE_ID"
