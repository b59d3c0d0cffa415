"""lambda-error-alarm: the Errors alarm names another function (a typo), so 'api' has none."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).absolute().parents[1]))
from fixture_kit import Kit  # noqa: E402

kit = Kit()
fn = kit.function("api", fn_name="prod-api")
kit.error_alarm("api", "prod-apii")
kit.duration_alarm("api", fn.name, 30)
kit.finish()
