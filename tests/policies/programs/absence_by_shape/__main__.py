"""absence-alarm-breaching: an untagged throughput floor (LessThanThreshold on Sum) with notBreaching."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).absolute().parents[1]))
from fixture_kit import Kit  # noqa: E402

kit = Kit()
kit.buffered("ingest")
kit.alarm("no-new-items", alarm_class=None, treat="notBreaching", namespace="App", metric_name="NewItemsIngested",
          statistic="Sum", period=3600, threshold=1, comparison_operator="LessThanThreshold")
kit.finish()
