"""Policy settings checked against each policy's JSON schema as the engine checks them: every error of every
policy, in the engine's words (it validates with gojsonschema; here jsonschema, Draft 7).

``errors`` checks in this process. During a preview the check runs in a process of its own instead
(``python -m offline.config_schema``: the checks as JSON on stdin, the errors as JSON on stdout), started with
the pack at the lowest CPU priority, so that jsonschema's imports (about 40 ms, the largest part of what the
policy run added to the prod stack's runner process) run on the other core while the program runs here, in the
idle time the pack's start leaves. ``errors_elsewhere`` says ``None`` when that process could not give an
answer, or gave none before the caller stopped waiting (the program is done: on a busy machine a process at the
lowest priority may get no CPU until then, and checking here costs only the imports); the caller then checks here.
"""
from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import threading
import time
from typing import Any, Optional

from offline import own_process

#: One policy's check: its name, its properties' schemas (property -> JSON schema), its required properties and
#: the settings it would be configured with.
Check = tuple[str, dict[str, Any], list[str], dict[str, Any]]
#: How long the checking process may take before its answer is given up for a check in this process.
ANSWER_TIMEOUT_SECONDS = 30.0
#: How often a wait for the answer looks whether its caller has stopped waiting.
_POLL_SECONDS = 0.05

_JSON_TYPES = {bool: "boolean", int: "integer", float: "number", str: "string", list: "array", dict: "object",
               type(None): "null"}


def _engine_message(err: Any) -> str:
    """A schema error in the words the engine uses (gojsonschema's): "foo is required",
    "foo: Invalid type. Expected: string, given: integer", "foo: String length must be less than or equal to 3",
    'foo: foo must be one of the following: "bar", "baz"', 'foo: foo does not match: "bar"'."""
    field = ".".join(str(p) for p in err.path)
    value, arg = err.instance, err.validator_value
    if isinstance(arg, float) and arg.is_integer():
        arg = int(arg)  # the schema came through a protobuf Struct, where every number is a double
    if err.validator == "required":
        missing = next((r for r in arg if isinstance(value, dict) and r not in value), "")
        return f"{'.'.join(filter(None, [field, missing]))} is required"
    where = field or "(root)"
    text = {
        "type": lambda: (f"Invalid type. Expected: {arg if isinstance(arg, str) else '/'.join(arg)}, "
                         f"given: {_JSON_TYPES.get(type(value), 'unknown')}"),
        "maxLength": lambda: f"String length must be less than or equal to {arg}",
        "minLength": lambda: f"String length must be greater than or equal to {arg}",
        "enum": lambda: f"{where} must be one of the following: {', '.join(json.dumps(v) for v in arg)}",
        "const": lambda: f"{where} does not match: {json.dumps(arg)}",
        "maximum": lambda: f"Must be less than or equal to {arg}",
        "minimum": lambda: f"Must be greater than or equal to {arg}",
        "pattern": lambda: f"Does not match pattern '{arg}'",
    }.get(err.validator, lambda: err.message)()
    return f"{where}: {text}"


def errors(checks: list[Check]) -> list[list[str]]:
    """For each check, its errors in the engine's words, sorted (none: the settings are valid)."""
    import jsonschema  # here, not at the top: the runner imports this module, and mostly checks elsewhere

    found = []
    for _name, properties, required, settings in checks:
        doc: dict[str, Any] = {"type": "object", "properties": properties}
        if required:
            doc["required"] = list(required)
        found.append(sorted(_engine_message(e) for e in jsonschema.Draft7Validator(doc).iter_errors(settings)))
    return found


class Checker:
    """The checking process, started at once (it imports while the caller waits for the schemas to check)."""

    def __init__(self) -> None:
        self.proc: Optional[subprocess.Popen] = None
        with contextlib.suppress(OSError):
            self.proc = subprocess.Popen(own_process.command(__name__), env=own_process.env(),
                                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)

    def errors_elsewhere(self, checks: list[Check], give_up: Optional[threading.Event] = None
                         ) -> Optional[list[list[str]]]:
        """``errors(checks)`` as the process found them; None if it could not answer (not started, failed, hung,
        or its answer is not one) or had not answered when ``give_up`` was set."""
        if self.proc is None:
            return None
        deadline = time.monotonic() + ANSWER_TIMEOUT_SECONDS
        data: Optional[bytes] = json.dumps(checks).encode()
        while True:
            try:  # a retry after a timeout goes on where the last one stopped (it must be given no input again)
                out, _ = self.proc.communicate(data, timeout=_POLL_SECONDS)
                found = json.loads(out)
                break
            except subprocess.TimeoutExpired:
                data = None
                if time.monotonic() < deadline and not (give_up is not None and give_up.is_set()):
                    continue
            except (OSError, ValueError):
                pass
            self.stop()
            return None
        if self.proc.returncode != 0 or not _is_answer(found, len(checks)):
            return None
        return found

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=5)


def _is_answer(found: Any, count: int) -> bool:
    return (isinstance(found, list) and len(found) == count
            and all(isinstance(f, list) and all(isinstance(m, str) for m in f) for f in found))


def main() -> int:
    # Last in the queue for the CPU: this runs beside the program and the pack's start, and only its answer
    # (needed once the pack has started) matters, not how soon its imports are done.
    own_process.lower_priority(own_process.IDLE_ONLY)
    import jsonschema  # noqa: F401 - imported before the checks arrive: that is the time this process is for

    checks = json.loads(sys.stdin.buffer.read())
    sys.stdout.write(json.dumps(errors([tuple(c) for c in checks])))
    return 0


if __name__ == "__main__":
    sys.exit(main())
