"""dashboard-shows-all-alarms: the dashboard lists only the first alarm."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).absolute().parents[1]))
from fixture_kit import Kit  # noqa: E402

kit = Kit()
kit.buffered("api")
kit.budget()
kit.dashboard(alarms=kit.alarms[:1])
