"""Every name ``xray_tracing`` offers from ``components/``, imported at once (pulumi_aws with them: about a second).

``xray_tracing`` loads this module on the first access to one of these names, so ``import xray_tracing`` (and
the console script, which must not put this distribution's ``components`` package in ``sys.modules`` before a
program with a package of that name runs) costs nothing.
"""
from __future__ import annotations

from components.alarms import AlarmSet, AlarmSetArgs, AlarmSpec, CriticalComposite, CriticalCompositeArgs, Evaluation
from components.alerting import AlertChannels, AlertChannelsArgs
from components.api import DashboardApi, DashboardApiArgs
from components.auth import UserDirectory, UserDirectoryArgs
from components.canary import Canary, CanaryArgs
from components.cost import CostGuard, CostGuardArgs
from components.dashboard import OperationsDashboard, OperationsDashboardArgs
from components.data import AppSecrets, AppSecretsArgs, DataTables, DataTablesArgs, TracedTopic, TracedTopicArgs
from components.iam import Statement
from components.monitoring import Monitoring, MonitoringDefaults
from components.sampling import XRaySampling, XRaySamplingArgs
from components.streaming_lambda import ImageSource, StreamingTracedLambda, StreamingTracedLambdaArgs
from components.traced_lambda import AlarmOptions, TracedLambda, TracedLambdaArgs

__all__ = [
    "AlarmOptions", "AlarmSet", "AlarmSetArgs", "AlarmSpec", "AlertChannels",
    "AlertChannelsArgs", "AppSecrets", "AppSecretsArgs", "Canary", "CanaryArgs", "CostGuard", "CostGuardArgs",
    "CriticalComposite", "CriticalCompositeArgs", "DashboardApi", "DashboardApiArgs", "DataTables", "DataTablesArgs",
    "Evaluation", "ImageSource", "Monitoring", "MonitoringDefaults", "OperationsDashboard", "OperationsDashboardArgs",
    "Statement", "StreamingTracedLambda", "StreamingTracedLambdaArgs", "TracedLambda", "TracedLambdaArgs",
    "TracedTopic", "TracedTopicArgs", "UserDirectory", "UserDirectoryArgs", "XRaySampling", "XRaySamplingArgs",
]
