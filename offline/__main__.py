"""``python -m offline preview|e2e [...]``: a Pulumi program and its policy pack, and the system as one, offline.

Exit status of ``preview``: 0 no mandatory violation, 1 at least one, 2 the program or the pack failed or hung
past ``--timeout`` (one line on stderr says why) or the arguments are wrong, 128 + N ended by signal N (SIGTERM,
SIGINT), the pack process with it. ``COMMANDS`` is every sub-command there is.
"""
from __future__ import annotations

import argparse
import atexit
import contextlib
import gc
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from offline.formats import FORMATS

#: A whole preview of this repository takes well under a minute; a hang is what takes five.
DEFAULT_TIMEOUT = 300.0


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive number of seconds")
    return value


def _tag(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"{text!r} is not a stack tag: give it as KEY=VALUE")
    return key.strip(), value


def _preview_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--stack", default="prod", help="stack whose Pulumi.<stack>.yaml config is used (default: prod)")
    p.add_argument("--program", default=None, help="directory of the Pulumi program (default: this repository)")
    p.add_argument("--policy-pack", default=None, help="policy pack directory (default: policies/ of this repository)")
    p.add_argument("--policy-pack-config", default=None, help="JSON file of policy levels and settings, as for "
                                                              "`pulumi preview --policy-pack-config`")
    p.add_argument("--format", choices=FORMATS, default=None,
                   help="output: the preview text (default), one JSON object, SARIF 2.1.0, JUnit XML, or GitHub "
                        "workflow annotations")
    p.add_argument("--json", action="store_true", help="the same as --format json")
    p.add_argument("--source-positions", action="store_true",
                   help="record the program line that registers each resource (file and line in SARIF and GitHub "
                        "annotations); costs about 0.8 ms per resource, a tenth of the program's CPU time")
    p.add_argument("--docs-url", default=None, metavar="BASE",
                   help="URL of docs/policies/ for SARIF rules' helpUri, e.g. a repository's blob URL "
                        "(default: file: URIs of this checkout's pages)")
    p.add_argument("--update", action="store_true", help="emulate values computed at create time (ids, ARNs) as "
                                                         "known, like the policy run after `pulumi up`")
    p.add_argument("--tag", type=_tag, action="append", default=[], metavar="KEY=VALUE",
                   help="a stack tag the pack sees, as `pulumi stack tag set KEY VALUE` sets it (repeatable; "
                        "pulumi:project, pulumi:runtime and pulumi:description come from Pulumi.yaml)")
    p.add_argument("--timeout", type=_seconds, default=DEFAULT_TIMEOUT, metavar="SECONDS",
                   help=f"end a run that takes longer (a program or a policy that hangs), exit 2 naming what hung "
                        f"(default: {DEFAULT_TIMEOUT:g})")


def _preview(args: argparse.Namespace) -> int:
    # Imported here: they load Pulumi and the protocol, which `--help` does not need.
    from offline import guard, heap
    from offline.formats import render
    from offline.policy_driver import PackError
    from offline.preview import DEFAULT_PACK, REPO, run_preview
    from offline.program import ProgramError

    # No full collection until the process ends (offline.heap): the program's heap is all still there while the
    # result is rendered, and the first full collection after the run scanned it (1.5-2 s after 10,000 resources).
    with heap.long_lived():
        guard.install_signal_handlers()
        watch = guard.Watch(args.timeout).start()
        try:
            result = run_preview(Path(args.program or REPO), args.stack, pack_dir=Path(args.policy_pack or DEFAULT_PACK),
                                 pack_config=args.policy_pack_config, update=args.update, progress=True, watch=watch,
                                 source_positions=args.source_positions, tags=dict(args.tag))
        except (ProgramError, PackError) as exc:
            guard.claim()  # waits for good if the run is being ended (a hang, a signal): that reason is the one line
            # One line per error; a config with several errors lists each on its own line, as the engine does.
            for part in str(exc).split("\nerror: "):
                print(f"error: {guard.one_line(part)}", file=sys.stderr)
            return 2
        guard.claim()
        watch.stop()
        print(render(result, args.format or ("json" if args.json else "text"), docs_base=args.docs_url))
        return result.exit_code


def _e2e_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--stack", default="prod", help="stack whose declarations are run (default: prod)")
    p.add_argument("--json", action="store_true", help="print one JSON object with every check")
    p.add_argument("--keep", action="store_true", help="keep the scratch directory (archives, logs, worker output)")


def _e2e(args: argparse.Namespace) -> int:
    from offline.e2e.run import main as e2e_main
    return e2e_main(["--stack", args.stack] + (["--json"] if args.json else []) + (["--keep"] if args.keep else []))


@dataclass(frozen=True)
class Command:
    summary: str
    description: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]


COMMANDS: dict[str, Command] = {
    "preview": Command(
        "preview a program under mocks with a CrossGuard policy pack",
        "Preview a Pulumi Python program under mocks with a CrossGuard policy pack, as `pulumi preview "
        "--policy-pack` would, without AWS or the CLI.",
        _preview_arguments, _preview),
    "e2e": Command(
        "run the whole system on this machine from the program's declarations and check that it fits",
        "Run the program's declarations as one system on this machine (a moto account with IAM enforced, each "
        "function from its own archive, role and environment, the stand-ins) and check traces, IAM, environment, "
        "metrics, log filters, CORS and public access. Exit 0 all checks hold, 1 one fails, 2 the run failed.",
        _e2e_arguments, _e2e),
}


class _Version(argparse.Action):
    """``--version``, importing ``contract`` only when asked: a program previewed here may have its own."""

    def __call__(self, parser: argparse.ArgumentParser, *_: object) -> None:
        from contract.distribution import NAME, VERSION

        print(f"{NAME} {VERSION}")  # stdout, as argparse's own version action prints
        parser.exit()


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m offline",
                                     description="Run a Pulumi program and its policy pack with no cloud and no CLI.")
    parser.add_argument("--version", action=_Version, nargs=0, help="print the installed distribution's version")
    commands = parser.add_subparsers(dest="command", metavar="<command>", required=True)
    for name, command in COMMANDS.items():
        command.add_arguments(commands.add_parser(name, help=command.summary, description=command.description))
    return parser


def main(argv: Optional[list[str]] = None) -> int:
    args = _parser().parse_args(argv)
    return COMMANDS[args.command].run(args)


def _exit_now(code: int) -> None:
    """End the process without the interpreter's teardown. A preview leaves the program's whole heap behind
    (every resource, its outputs and their futures); finalizing it object by object takes 0.25-0.4 s after
    the prod stack's preview (a sixth of the run) and 1.4 s after 10,000 resources, to free memory the
    operating system takes back at once anyway. What a normal exit runs first still runs: the exit functions
    (one stops a pack that is still running when a run ended early), then the output buffers are flushed. No
    collection runs meanwhile: the first full one after a run scans that whole heap (offline.heap)."""
    gc.disable()
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):  # a closed or broken pipe must not turn the status into 1
            stream.flush()
    os._exit(code)


if __name__ == "__main__":
    try:
        code = main()
    finally:
        loops = sys.modules.get("offline.event_loops")  # loaded only if a program ran, which left loops open
        if loops is not None:
            loops.close_all()
    _exit_now(code)  # a --help or usage error never gets here: its SystemExit ends the process as usual
