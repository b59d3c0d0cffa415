"""alarm-missing-data-class: an errors-class alarm that treats missing data as missing."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).absolute().parents[1]))
from fixture_kit import Kit  # noqa: E402

kit = Kit()
kit.buffered("api")
kit.alarm("dlq-depth", alarm_class="errors", treat="missing", namespace="AWS/SQS",
          metric_name="ApproximateNumberOfMessagesVisible", statistic="Maximum", period=300, threshold=0,
          comparison_operator="GreaterThanThreshold", dimensions={"QueueName": "dlq"})
kit.finish()
