"""alarm-has-actions: an alarm with no alarm actions."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).absolute().parents[1]))
from fixture_kit import Kit  # noqa: E402

kit = Kit()
kit.buffered("api")
kit.alarm("throttles", alarm_class="errors", treat="notBreaching", actions=False, namespace="AWS/Lambda",
          metric_name="Throttles", statistic="Sum", period=60, threshold=1,
          comparison_operator="GreaterThanOrEqualToThreshold")
kit.finish()
