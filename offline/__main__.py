"""``python -m offline preview [...]``: run a Pulumi program and its policy pack with no cloud and no CLI.

Exit status: 0 no mandatory violation, 1 at least one, 2 the program or the pack failed (one line on
stderr says why). Other subcommands (``e2e``) live in their own modules and are dispatched by name.
"""
from __future__ import annotations

import argparse
import importlib
import json
import sys
from pathlib import Path


def _preview_parser() -> argparse.ArgumentParser:
    from offline.preview import DEFAULT_PACK, REPO

    p = argparse.ArgumentParser(prog="python -m offline preview",
                                description="Preview a Pulumi Python program under mocks with a CrossGuard policy "
                                            "pack, as `pulumi preview --policy-pack` would, without AWS or the CLI.")
    p.add_argument("--stack", default="prod", help="stack whose Pulumi.<stack>.yaml config is used (default: prod)")
    p.add_argument("--program", default=str(REPO), help="directory of the Pulumi program (default: this repository)")
    p.add_argument("--policy-pack", default=str(DEFAULT_PACK), help="policy pack directory (default: policies/)")
    p.add_argument("--policy-pack-config", default=None, help="JSON file of policy levels and settings, as for "
                                                              "`pulumi preview --policy-pack-config`")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of the preview text")
    p.add_argument("--update", action="store_true", help="emulate values computed at create time (ids, ARNs) as "
                                                         "known, like the policy run after `pulumi up`")
    return p


def preview_main(argv: list[str]) -> int:
    args = _preview_parser().parse_args(argv)
    from offline.policy_driver import PackError
    from offline.preview import as_json, render_text, run_preview
    from offline.program import ProgramError

    try:
        result = run_preview(Path(args.program), args.stack, pack_dir=Path(args.policy_pack),
                             pack_config=args.policy_pack_config, update=args.update, progress=True)
    except ProgramError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except PackError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(as_json(result), indent=1))
    else:
        print(render_text(result))
    return result.exit_code


def main(argv: list[str]) -> int:
    if not argv or argv[0] in ("-h", "--help"):
        print("usage: python -m offline preview [--stack S] [--program DIR] [--policy-pack DIR] "
              "[--policy-pack-config FILE] [--json] [--update]\n       python -m offline <command> ...",
              file=sys.stderr if not argv else sys.stdout)
        return 2 if not argv else 0
    command, rest = argv[0], argv[1:]
    if command == "preview":
        return preview_main(rest)
    try:
        module = importlib.import_module(f"offline.{command.replace('-', '_')}")
    except ModuleNotFoundError:
        print(f"error: unknown command {command!r}; try: python -m offline preview --help", file=sys.stderr)
        return 2
    if not hasattr(module, "main"):
        print(f"error: unknown command {command!r}; try: python -m offline preview --help", file=sys.stderr)
        return 2
    return int(module.main(rest) or 0)


if __name__ == "__main__":
    try:
        code = main(sys.argv[1:])
    finally:
        from offline.mocks import close_event_loops
        close_event_loops()
    sys.exit(code)
