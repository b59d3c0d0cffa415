"""Churning SSE clients in a process of their own (so their load never starves the test's own reads):

    python -m tests.sse.churn_client <stream url> <clients> (--seconds S | --cycles N)

Each client connects, reads up to the stream's ``connected`` event (it then holds a slot), closes, and
again, until the time is up or it made its cycles. Prints one JSON object: the statuses got, by count,
and the errors (a refused or broken connection is an error, not a status). Used by ``test_churn.py`` and
``bench/sse.py`` through ``Churn``, with ``Usage`` sampling the app process meanwhile.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[2]


async def connect_and_close(client: httpx.AsyncClient, url: str) -> int:
    """One cycle; the status the stream answered."""
    async with client.stream("GET", url) as response:
        if response.status_code == 200:
            async for line in response.aiter_lines():
                if line == "event: connected":
                    break
        return response.status_code


async def churn(url: str, clients: int, seconds: float | None, cycles: int | None) -> dict:
    statuses: Counter[int] = Counter()
    errors: Counter[str] = Counter()
    # One client for all: building one per task costs a TLS context each, seconds on a loaded machine. Each
    # cycle is a new connection anyway (closing a stream mid-body closes its connection).
    async with httpx.AsyncClient(timeout=httpx.Timeout(10.0), limits=httpx.Limits(max_connections=clients)) as client:
        started = time.monotonic()
        end = started + seconds if seconds is not None else None

        async def one_client() -> None:
            made = 0
            while (end is None or time.monotonic() < end) and (cycles is None or made < cycles):
                made += 1
                try:
                    statuses[await connect_and_close(client, url)] += 1
                except httpx.HTTPError as exc:
                    errors[type(exc).__name__] += 1

        await asyncio.gather(*(one_client() for _ in range(clients)))
    return {"statuses": {str(k): v for k, v in sorted(statuses.items())}, "errors": dict(errors),
            "seconds": round(time.monotonic() - started, 3)}


@dataclass
class Usage:
    """Threads and RSS of one process, sampled from ``/proc/<pid>/status``."""

    pid: int
    samples: list[tuple[int, int]] = field(default_factory=list)

    def sample(self) -> tuple[int, int]:
        fields = dict(line.split(":", 1) for line in Path(f"/proc/{self.pid}/status").read_text().splitlines())
        now = int(fields["Threads"]), int(fields["VmRSS"].split()[0])
        self.samples.append(now)
        return now

    @property
    def max_threads(self) -> int:
        return max(t for t, _ in self.samples)


class Churn:
    """``churn_client`` running in its own process against ``url``; ``result()`` waits for its figures."""

    def __init__(self, url: str, clients: int, *limit: str):
        self.proc = subprocess.Popen([sys.executable, "-m", "tests.sse.churn_client", f"{url}/api/v2/stream",
                                      str(clients), *limit], cwd=REPO, stdout=subprocess.PIPE, text=True)

    def running(self) -> bool:
        return self.proc.poll() is None

    def result(self, timeout: float = 120) -> dict:
        out, _ = self.proc.communicate(timeout=timeout)
        if self.proc.returncode != 0:
            raise RuntimeError(f"churn client exited {self.proc.returncode} (its stderr is above)")
        return json.loads(out.strip().splitlines()[-1])

    def __enter__(self) -> Churn:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.running():
            self.proc.kill()
            self.proc.wait(10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url")
    parser.add_argument("clients", type=int)
    limit = parser.add_mutually_exclusive_group(required=True)
    limit.add_argument("--seconds", type=float)
    limit.add_argument("--cycles", type=int, help="per client")
    args = parser.parse_args()
    print(json.dumps(asyncio.run(churn(args.url, args.clients, args.seconds, args.cycles))), flush=True)


if __name__ == "__main__":
    main()
