"""Which event loop a run's futures are awaited on, and closing the loops runs leave open, at process end.

Every future of a run belongs to the loop that was this thread's current loop when the run started: the SDK
creates them there, and its ``_sync_await`` pumps whatever loop is current. A program may install a loop of
its own at import (``asyncio.set_event_loop(asyncio.new_event_loop())``, as some public examples, or a
library they import, do). From then on the current loop is the program's, and the runner's awaits after the
program (the stack outputs, the next run in the same process) would run on a loop the run's futures do not
belong to: that works only while every such future happens to be done already, and fails ("attached to a
different loop") or hangs as soon as one is not. So a run puts its loop back as soon as the program returns
(``reinstall``).

Loops are closed only at the end of a process (``close_all``): the SDK's mock monitor creates a loop on each
executor thread it is called on and reuses it in later runs (it cannot be given a new one from here), and a
loop left to interpreter shutdown can print a spurious traceback from its ``__del__``.
"""
from __future__ import annotations

import asyncio
import threading

_LEFT_OPEN: set[asyncio.AbstractEventLoop] = set()
_LOCK = threading.Lock()


def current() -> asyncio.AbstractEventLoop:
    """This thread's current loop, made and installed if it has none (what the SDK would use)."""
    try:
        return asyncio.get_event_loop_policy().get_event_loop()
    except RuntimeError:  # a thread other than the main one, or a program that set the loop to None
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        return loop


def keep_for_close(loop: asyncio.AbstractEventLoop) -> None:
    """Close ``loop`` at the end of the process."""
    with _LOCK:
        _LEFT_OPEN.add(loop)


def reinstall(loop: asyncio.AbstractEventLoop) -> None:
    """Make ``loop`` this thread's current loop again; one the program installed meanwhile is closed at exit."""
    try:
        installed = asyncio.get_event_loop_policy().get_event_loop()
    except RuntimeError:
        installed = None
    if installed is not loop:
        if installed is not None:
            keep_for_close(installed)
        asyncio.set_event_loop(loop)


def keep_this_threads_loop() -> None:
    """Called by the mock monitor on its executor threads, where the SDK made a loop it never closes."""
    if threading.current_thread() is threading.main_thread():
        return
    try:
        loop = asyncio.get_event_loop_policy().get_event_loop()
    except RuntimeError:  # this call needed no loop (the root Stack registration)
        return
    keep_for_close(loop)


def close_all() -> None:
    """Close every loop left open, this thread's current one included. Only at the end of a process."""
    with _LOCK:
        loops = list(_LEFT_OPEN)
        _LEFT_OPEN.clear()
    try:
        loops.append(asyncio.get_event_loop_policy().get_event_loop())
    except RuntimeError:
        pass
    for loop in loops:
        if not loop.is_running() and not loop.is_closed():
            loop.close()
