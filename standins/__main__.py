"""``python -m standins <name> [--port N]``: run one stand-in in the foreground until Ctrl-C.

It prints its address and how to point a client at it, then one line per document or span it receives, so
a handler or the SSE app run by hand shows what it puts on the wire.
"""
from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Optional

from contract.distribution import NAME, VERSION
from standins.base import Standin


def _moto(port: int) -> Standin:
    from standins.moto_server import MotoServer

    return MotoServer(port=port)


def _xray_daemon(port: int) -> Standin:
    from standins.xray_daemon import XRayDaemon

    return XRayDaemon(port=port)


def _otlp_receiver(port: int) -> Standin:
    from standins.otlp_receiver import OtlpReceiver

    return OtlpReceiver(port=port)


def _segment_line(doc: dict) -> str:
    outcome = "fault" if doc.get("fault") else "error" if doc.get("error") else "ok"
    return (f"{doc.get('trace_id')} {doc.get('name', '?'):<28} id={doc.get('id')} "
            f"parent={doc.get('parent_id') or '-':<16} {outcome} {doc.get('annotations') or {}}")


def _span_line(span: Any) -> str:
    return (f"{span.xray_trace_id} {span.name:<28} parent={span.parent_span_id or '-':<16} {span.status} "
            f"{span.annotations}")


@dataclass(frozen=True)
class Command:
    summary: str
    default_port: int
    make: Callable[[int], Standin]
    #: How a client is pointed at it; ``{address}`` is filled in.
    usage: str
    #: One printed line per received item; None when there is nothing to follow (moto).
    line: Optional[Callable[[Any], str]]


COMMANDS: dict[str, Command] = {
    "moto-server": Command("AWS (moto)", 5000, _moto, "AWS_ENDPOINT_URL={address}", None),
    "xray-daemon": Command("the X-Ray daemon's UDP listener, printing every segment document", 2000, _xray_daemon,
                           "AWS_XRAY_DAEMON_ADDRESS={address}", _segment_line),
    "otlp-receiver": Command("the collector's OTLP/HTTP trace receiver, printing every span", 4318, _otlp_receiver,
                             "OTEL_EXPORTER_OTLP_ENDPOINT={address}", _span_line),
}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m standins", description="Run one stand-in on 127.0.0.1 in the "
                                     "foreground until Ctrl-C: it prints its address, then what it receives.")
    parser.add_argument("--version", action="version", version=f"{NAME} {VERSION}")
    names = parser.add_subparsers(dest="name", metavar="<name>", required=True)
    for name, command in COMMANDS.items():
        sub = names.add_parser(name, help=command.summary, description=f"Run {command.summary}, on 127.0.0.1 until Ctrl-C.")
        sub.add_argument("--port", type=int, default=command.default_port,
                         help=f"port on 127.0.0.1 (default: {command.default_port}; 0 picks a free one)")
    return parser


def _more_than(seen: int) -> Callable[[Sequence[Any]], bool]:
    return lambda got: len(got) > seen


def _follow(standin: Standin[Sequence[Any]], line: Callable[[Any], str]) -> None:
    shown = 0
    while True:
        try:
            received = standin.wait_for(_more_than(shown), timeout=3600, what="the next arrival")
        except TimeoutError:
            continue
        for item in received[shown:]:
            print(line(item), flush=True)
        shown = len(received)


def main(argv: Optional[list[str]] = None) -> int:
    args = _parser().parse_args(argv)
    command = COMMANDS[args.name]
    if threading.current_thread() is threading.main_thread():
        # Ctrl-C stops it whatever SIGINT was at start: a shell script's `&` starts a command with SIGINT ignored,
        # and Python then installs no KeyboardInterrupt handler (a test run in the background got a receiver that
        # a SIGINT could not stop).
        signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        standin = command.make(args.port).start()
    except OSError as exc:
        print(f"error: {args.name} cannot listen on port {args.port}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    try:  # the address line inside: a Ctrl-C as soon as it is read (a script waiting for it) is a clean stop too
        print(f"{args.name} on {standin.address}; point clients at it with "
              f"{command.usage.format(address=standin.address)}", flush=True)
        if command.line is None:
            threading.Event().wait()
        else:
            _follow(standin, command.line)
    except KeyboardInterrupt:
        pass
    finally:
        standin.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
