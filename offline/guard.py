"""Ending a preview that hangs or is signalled: one line on stderr, every pack process stopped, a prompt exit.

The program runs in this process (``offline.program``), so a program that hangs cannot be cancelled, only
ended with the process; and a pack that hangs in a policy never answers. So at ``--timeout`` a watchdog
thread (``Watch``) names what hung from what the run is doing (the program's current line, or the pack call
in flight and the line of policy code the pack's threads are in) and ends the process. SIGTERM and SIGINT
end it the same way (``install_signal_handlers``), so the pack never outlives the runner; SIGKILL, which no
handler sees, ends the pack through the kernel (``policy_driver``) and the Analyze feeder through its closed input.

Whoever ends the run first (a watchdog, a signal, the main thread with its result or error) ``claim``\\s the
end: the others then wait for the process to exit, so the one line on stderr is the first cause, never the
consequence (a killed pack failing the call the main thread was in).
"""
from __future__ import annotations

import contextlib
import os
import re
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from types import FrameType
from typing import NoReturn, Optional

from offline.policy_driver import stop_all_packs

#: The real ``os._exit``: the program's is intercepted while it runs (``offline.program``).
_EXIT = os._exit
_END = threading.RLock()  # re-entrant: a signal handler may run on the main thread while it holds the end
#: Longest error line; a program's exception message can be pages long.
MAX_LINE = 600
#: The pack's gRPC handlers, under which a policy's own code runs (``pulumi_policy.policy``).
_SERVICER_CALLS = frozenset({"Analyze", "AnalyzeStack", "Remediate"})
_FRAME = re.compile(r'^\s*File "(?P<file>[^"]+)", line (?P<line>\d+) in (?P<func>\S+)')
_THREAD = re.compile(r"^(Current thread|Thread) 0x[0-9a-f]+")


def one_line(text: str) -> str:
    """``text`` as one line: its lines joined, long text cut."""
    line = " ".join(part.strip() for part in str(text).splitlines() if part.strip())
    return line if len(line) <= MAX_LINE else line[:MAX_LINE - 1] + "…"


def claim() -> None:
    """Take the end of the run for this thread; blocks for good if another thread is ending it."""
    _END.acquire()


def end_now(reason: str, code: int) -> NoReturn:
    """Print ``error: <reason>``, stop every pack process and exit with ``code``, whatever other threads do."""
    claim()
    os.write(2, f"error: {one_line(reason)}\n".encode())  # not print(): a signal may interrupt one
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)  # another thread's last words (the call the killed pack failed) are not the reason
    os.dup2(devnull, 2)
    stop_all_packs()
    _EXIT(code)


def install_signal_handlers() -> None:
    """SIGTERM and SIGINT end the run at once, pack processes included; exit status 128 + the signal.
    Python runs signal handlers on the main thread only, so only a run there can install them."""
    if threading.current_thread() is not threading.main_thread():
        return

    def handler(signum: int, _frame: Optional[FrameType]) -> None:
        name = signal.Signals(signum).name
        end_now(f"stopped by {name}: the run and its policy pack process were ended", 128 + signum)

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, handler)


def _relative(file: str, root: Optional[Path]) -> str:
    """``file`` from the directory holding ``root``: the program's and the pack's ``__main__.py`` both show."""
    if root is not None:
        with contextlib.suppress(ValueError):
            return str(Path(file).resolve().relative_to(root.parent))
    return file


def _is_under(file: str, root: Optional[Path]) -> bool:
    return root is not None and Path(file).resolve().is_relative_to(root)


def program_location(frame: Optional[FrameType], program_dir: Optional[Path]) -> str:
    """``file:line`` of the innermost frame in the program's directory (else the innermost frame)."""
    frames: list[FrameType] = []
    while frame is not None:
        frames.append(frame)
        frame = frame.f_back
    if not frames:
        return "an unknown line"
    chosen = next((f for f in frames if _is_under(f.f_code.co_filename, program_dir)), frames[0])
    return f"{_relative(chosen.f_code.co_filename, program_dir)}:{chosen.f_lineno}"


def pack_location(dump: list[str], pack_dir: Optional[Path]) -> Optional[str]:
    """Where a hung pack is, from a faulthandler dump of its threads (most recent call first): in a thread
    serving a call, the innermost frame under the pack directory (else the frame the servicer called); with
    no call being served (a pack that hangs as it starts), the innermost frame under the pack directory."""
    blocks: list[list[tuple[str, str, str]]] = []
    for text in dump:
        if _THREAD.match(text.strip()):
            blocks.append([])
        elif (m := _FRAME.match(text)) and blocks:
            blocks[-1].append((m["file"], m["line"], m["func"]))
    chosen: Optional[tuple[str, str, str]] = None
    for frames in blocks:
        servicer = next((i for i, (file, _, func) in enumerate(frames)
                         if func in _SERVICER_CALLS and "pulumi_policy" in file), None)
        if servicer:
            below = frames[:servicer]
            own = [f for f in below if _is_under(f[0], pack_dir)]
            chosen = own[0] if own else next((f for f in reversed(below) if "pulumi_policy" not in f[0]), below[0])
            break
        own = [f for f in frames if _is_under(f[0], pack_dir)]
        chosen = chosen or (own[0] if own else None)
    return f"{_relative(chosen[0], pack_dir)}:{chosen[1]} in {chosen[2]}" if chosen else None


class Watch:
    """What the run is doing now (for progress lines and for naming what hung) and its deadline.

    ``timeout`` None: no deadline. At the deadline the watchdog thread ends the process (``end_now``, exit 2):
    the only way to stop a program that runs in it."""

    def __init__(self, timeout: Optional[float] = None):
        self.timeout = timeout
        self.phase = "starting"
        self.count: Callable[[], Optional[int]] = lambda: None
        self.program: Optional[tuple[int, Path]] = None  # (thread id, program directory) while the program runs
        self.calls: dict[int, str] = {}                  # thread id -> the pack call it waits for
        self.pack: Optional[object] = None               # the pack process, for where its policy code hangs
        self._stopped = threading.Event()
        self._thread: Optional[threading.Thread] = None

    def start(self) -> Watch:
        if self.timeout is not None and self._thread is None:
            self._thread = threading.Thread(target=self._expire, name="offline-timeout", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        self._stopped.set()

    def set(self, phase: str, count: Callable[[], Optional[int]] = lambda: None) -> None:
        self.phase, self.count = phase, count

    @contextlib.contextmanager
    def running_program(self, program_dir: Path) -> Iterator[None]:
        self.program = (threading.get_ident(), program_dir)
        try:
            yield
        finally:
            self.program = None

    @contextlib.contextmanager
    def call(self, what: str) -> Iterator[None]:
        """This thread waits for the pack to answer ``what`` ("Analyze of <urn>")."""
        me = threading.get_ident()
        self.calls[me] = what
        try:
            yield
        finally:
            self.calls.pop(me, None)

    def _expire(self) -> None:
        assert self.timeout is not None  # started only with a deadline
        if self._stopped.wait(self.timeout):
            return
        claim()  # before looking: the dump below kills the pack, and its callers must not report that first
        if not self._stopped.is_set():
            end_now(self.describe(), 2)

    def describe(self) -> str:
        """What hung, in one line."""
        limit = f"within {self.timeout:g} s (--timeout)"
        program = self.program
        if program is not None:
            frame = sys._current_frames().get(program[0])
            return (f"the program did not finish {limit}: it is still running at "
                    f"{program_location(frame, program[1])}; fix the hang or raise --timeout")
        calls = list(self.calls.copy().values())  # a copy: analysis threads add and remove theirs meanwhile
        if calls:
            where = None
            dump_threads = getattr(self.pack, "dump_threads", None)
            if dump_threads is not None:
                where = pack_location(dump_threads(), getattr(self.pack, "pack_dir", None))
            inside = f": it hangs at {where}" if where else ""
            return f"the policy pack did not answer {calls[0]} {limit}{inside}; fix the policy or raise --timeout"
        return f"the run did not finish {limit} ({self.phase}); raise --timeout"
