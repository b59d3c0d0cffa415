"""Carrying the Analyze calls of a preview from the runner to the pack, in a process of its own.

The program runs in the runner's process and holds its GIL; every gRPC call the runner makes needs that GIL
back a few times (to send, to complete, to read), and another thread gets it only every switch interval
(5 ms). At 10,000 resources the runner's Analyze calls fell 7 s behind the program that way (issue 11). So
the runner serializes each ``AnalyzeRequest`` and writes a whole batch to this process in one write; this
process makes the gRPC calls (a few dozen in flight) on the other core, beside the pack, and writes the
answers back in the order of the requests, which the runner reads when the program is done.

This module is both ends: ``Feeder`` (the runner's side) and ``main`` (``python -m offline.feeder``, the
process). The process only moves bytes: it imports grpc and nothing of protobuf or Pulumi, so it is ready in a
tenth of a second; the runner starts it with its first batch, once the pack is serving (started with the pack,
its imports competed with the pack's and made the prod preview slower). When the runner's end closes (it
stopped it, or it died, even by SIGKILL) the process exits at once.

Wire format, both directions little-endian. Runner -> feeder: one line with the pack's address, then frames
``<u32 length><AnalyzeRequest>``. Feeder -> runner: frames ``<u8 status><u32 length><payload>``, status 0 with
the serialized ``AnalyzeResponse``, status 1 with the failed call's "<grpc status name>\\t<details>".
"""
from __future__ import annotations

import contextlib
import os
import queue
import struct
import subprocess
import sys
import threading

from offline import own_process

#: Calls the process keeps in flight: enough to keep the pack's 4 server threads busy, few enough that the
#: requests queued in the channel stay small (the rest wait in the pipe, then in the runner's writing thread).
IN_FLIGHT = 64
_LENGTH = struct.Struct("<I")
_ANSWER = struct.Struct("<BI")
#: The runner's channels and the feeder's take messages this large (a whole stack's AnalyzeStack request).
MAX_MESSAGE = 400 << 20
CHANNEL_OPTIONS = [("grpc.max_receive_message_length", MAX_MESSAGE), ("grpc.max_send_message_length", MAX_MESSAGE)]
_METHOD = "/pulumirpc.Analyzer/Analyze"


class FeederError(Exception):
    """An Analyze call failed (``details``: the pack's words, as gRPC gave them), or the feeder itself stopped."""

    def __init__(self, details: str):
        super().__init__(details)
        self.details = details


class Feeder:
    """The runner's end: starts the process, ``connect`` gives it the pack's address, ``send`` writes requests,
    ``answer`` reads the answer to one, in the order sent."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen(own_process.command(__name__), env=own_process.env(),
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self._lock = threading.Lock()  # one writer at a time: a batch's frames stay together
        self._sent = 0  # requests written, answers read: the index of the next of each
        self._read = 0

    def connect(self, address: str) -> None:
        with self._lock:
            self._write(address.encode() + b"\n")

    def send(self, requests: list[bytes]) -> int:
        """Write serialized requests in one write; blocks (GIL released) while the process is ``IN_FLIGHT`` calls
        and a full pipe behind. Returns the index of the first: ``answer(index)`` reads its answer."""
        data = b"".join(_LENGTH.pack(len(r)) + r for r in requests)
        with self._lock:
            self._write(data)
            first, self._sent = self._sent, self._sent + len(requests)
        return first

    def _write(self, data: bytes) -> None:
        assert self.proc.stdin is not None  # Popen was given stdin=PIPE
        try:
            self.proc.stdin.write(data)
            self.proc.stdin.flush()
        except (BrokenPipeError, ValueError) as exc:  # ValueError: stdin closed by stop()
            raise FeederError(self._stopped_reason()) from exc

    def answer(self, index: int) -> bytes:
        """The serialized ``AnalyzeResponse`` to request ``index``; raises ``FeederError`` for a failed call. The
        answers come in order; those before ``index`` nobody read (a run that ended early, sharing this feeder with
        the next one, as the tests' shared pack does) are passed over."""
        if index < self._read:
            raise ValueError(f"the answer to request {index} was read already (next: {self._read})")
        while True:
            status, payload = self._next()
            self._read += 1
            if self._read > index:
                break
        if status:
            raise FeederError(payload.decode("utf-8", "replace").partition("\t")[2])
        return payload

    def _next(self) -> tuple[int, bytes]:
        assert self.proc.stdout is not None  # Popen was given stdout=PIPE
        try:
            head = self.proc.stdout.read(_ANSWER.size)
            status, length = _ANSWER.unpack(head) if len(head) == _ANSWER.size else (None, 0)
            payload = self.proc.stdout.read(length) if length else b""
        except (OSError, ValueError):
            status, payload = None, b""
        if status is None or len(payload) != length:
            raise FeederError(self._stopped_reason())
        return status, payload

    def _stopped_reason(self) -> str:
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=5)
        err = b""
        if self.proc.returncode is not None and self.proc.stderr is not None:
            with contextlib.suppress(OSError, ValueError):
                err = self.proc.stderr.read()
        last = [ln.strip() for ln in err.decode("utf-8", "replace").splitlines() if ln.strip()]
        return (f"the process carrying Analyze calls to the pack stopped (exit {self.proc.returncode})"
                + (f": {last[-1][:300]}" if last else ""))

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=5)
        for pipe in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            with contextlib.suppress(OSError):
                if pipe is not None:
                    pipe.close()


def main() -> int:
    """The process: read the address, then requests until the runner closes its end; answers in order."""
    own_process.lower_priority(own_process.BESIDE_THE_PROGRAM)  # the program, on the runner's core, comes first
    import grpc

    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    address = stdin.readline().decode().strip()
    if not address:
        return 0
    channel = grpc.insecure_channel(address, options=CHANNEL_OPTIONS)
    analyze = channel.unary_unary(_METHOD)  # no (de)serializers: bytes in, bytes out
    slots = threading.BoundedSemaphore(IN_FLIGHT)
    pending: queue.SimpleQueue = queue.SimpleQueue()

    def write_answers() -> None:
        # A slot is freed when a call completes, not when its answer is written: the runner reads the answers
        # only after its program ends, so the pipe back fills and this thread waits while calls go on.
        while True:
            future = pending.get()
            try:
                payload, status = future.result(), 0
            except grpc.RpcError as exc:
                payload, status = f"{exc.code().name}\t{exc.details() or ''}".encode(), 1
            stdout.write(_ANSWER.pack(status, len(payload)) + payload)
            if pending.empty():
                stdout.flush()

    threading.Thread(target=write_answers, name="feeder-answers", daemon=True).start()
    while len(head := stdin.read(_LENGTH.size)) == _LENGTH.size:
        (length,) = _LENGTH.unpack(head)
        request = stdin.read(length)
        if len(request) != length:
            break
        slots.acquire()
        future = analyze.future(request)
        future.add_done_callback(lambda _f: slots.release())
        pending.put(future)
    # The runner's end is closed: it stopped us, or it is gone (even killed with SIGKILL). Nobody reads the answers
    # still due, and a call a hung policy never answers must not keep this process alive: end at once.
    os._exit(0)


if __name__ == "__main__":
    sys.exit(main())
