"""``python -m offline preview``: a Pulumi preview with a policy pack, with no cloud and no CLI.

The program runs under the recording mock runtime (``offline.program``) while the pack starts in
parallel as the CLI would start it (``offline.policy_driver``); every resource is then sent to
``Remediate`` (when a policy is at ``remediate``) and ``Analyze`` on its inputs, and the whole stack once
to ``AnalyzeStack`` on its outputs with parents and (property) dependencies. ``offline.render`` prints the
result as the CLI's preview does, or as one JSON object (``--json``).
"""
from __future__ import annotations

import contextlib
import functools
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, TextIO

from offline import config_schema, heap
from offline.guard import Watch
from offline.mocks import ResourceRecord
from offline.policy_driver import (
    Analyzer,
    Diagnostic,
    PackInfo,
    PolicyInfo,
    PolicyPackProcess,
    load_config_file,
    reconcile_config,
)
from offline.program import ProgramError, RunResult, StackConfig, load_stack_config, run_program

REPO = Path(__file__).resolve().parents[1]
DEFAULT_PACK = REPO / "policies"
ANALYZE_THREADS = 4  # the pack's gRPC server has 4 workers


@dataclass
class PreviewResult:
    run: RunResult
    pack_name: str
    pack_version: str
    diagnostics: list[Diagnostic]
    not_applicable: list[dict]
    config: dict[str, tuple[str, dict]]
    seconds: float
    timings: dict[str, float] = field(default_factory=dict)
    policies: list[PolicyInfo] = field(default_factory=list)  # the pack's, with descriptions (SARIF rules)

    @property
    def root_urn(self) -> str:
        s = self.run.stack
        return f"urn:pulumi:{s.stack}::{s.project}::pulumi:pulumi:Stack::{s.project}-{s.stack}"

    def count(self, level: str) -> int:
        return sum(1 for d in self.diagnostics if d.level == level)

    @property
    def exit_code(self) -> int:
        return 1 if self.count("mandatory") else 0


class _Progress:
    """A line on stderr when a phase (the ``Watch``'s) takes more than a second (long programs, big stacks)."""

    def __init__(self, enabled: bool, watch: Watch, stream: Optional[TextIO] = None):
        self.enabled = enabled
        self.watch = watch
        self.stream = stream or sys.stderr
        self._stop = threading.Event()
        self._started = time.perf_counter()
        self._thread: Optional[threading.Thread] = None

    def __enter__(self) -> _Progress:
        if self.enabled:
            self._thread = threading.Thread(target=self._run, daemon=True)
            self._thread.start()
        return self

    def _run(self) -> None:
        if self._stop.wait(1.0):
            return
        while True:
            n = self.watch.count()
            extra = f" ({n} resources)" if n is not None else ""
            # One write, newline included: print() writes the text and its end apart on an unbuffered stderr, and
            # the guard's "error: ..." line (a timeout at an odd second, when this prints) landed between them.
            self.stream.write(f"offline preview: {self.watch.phase}{extra}, "
                              f"{time.perf_counter() - self._started:.1f} s\n")
            self.stream.flush()
            if self._stop.wait(2.0):
                return

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._thread is not None:
            # No timeout: the thread returns as soon as it sees the stop (at most one line away), and a daemon
            # thread still printing to stderr when the interpreter shuts down can abort the process.
            self._thread.join()


def _registered() -> Optional[int]:
    from pulumi.runtime import settings

    monitor = settings.get_monitor()
    records = getattr(monitor, "records", None)
    return len(records) if records is not None else None


def _run_program_quietly(program_dir: Path, stack: str, preview: bool, source_positions: bool = False) -> RunResult:
    """Run the program; its own prints go to stderr so ``--json`` stdout stays one JSON object."""
    with contextlib.redirect_stdout(sys.stderr):
        try:
            return run_program(program_dir, stack, preview=preview, source_positions=source_positions)
        except ProgramError:
            raise
        except SystemExit as exc:  # a program calling sys.exit() must not end the runner silently
            raise ProgramError(f"the program called sys.exit({exc.code!r})") from exc
        except Exception as exc:  # noqa: BLE001 - errors outside the program body (runtime setup ...)
            raise ProgramError(f"the program failed: {type(exc).__name__}: {exc}") from exc


def run_preview(program_dir: os.PathLike | str = REPO, stack: str = "prod", *,
                pack_dir: os.PathLike | str = DEFAULT_PACK, pack_config: Optional[os.PathLike | str] = None,
                update: bool = False, progress: bool = False, source_positions: bool = False,
                analyzer_factory: Optional[Callable[..., Analyzer]] = None,
                watch: Optional[Watch] = None, tags: Optional[dict[str, str]] = None) -> PreviewResult:
    """Run the program and the pack; raises ``ProgramError`` or ``PackError`` with a one-line reason.

    ``watch`` is told what the run is doing at each step (the CLI's ``--timeout`` names what hung from it)."""
    watch = watch or Watch()
    started = time.perf_counter()
    timings: dict[str, float] = {}
    program_dir = Path(program_dir).resolve()
    cfg = load_stack_config(program_dir, stack)           # fails fast: no Pulumi.yaml, no stack file
    cfg.tags.update(tags or {})                            # the stack's tags, as `pulumi stack tag set` sets them
    user_config = load_config_file(pack_config)
    factory: Callable[..., Analyzer] = analyzer_factory or PolicyPackProcess
    analyzer = factory(pack_dir, project=cfg.project, stack=cfg.stack, dry_run=not update,
                       config=cfg.config)  # starts in parallel
    watch.pack = analyzer
    # The full collections stay off until AnalyzeStack is answered (offline.heap): restored at the end of the
    # program, the collector would scan the program's whole heap once more while the stack is analyzed.
    with analyzer, _Progress(progress, watch), heap.long_lived():
        # As the engine does, each resource is analyzed as soon as it is registered: the pack (its own
        # process) works while the program is still running.
        streamer = _StreamingAnalysis(analyzer, cfg, user_config, update, watch)
        watch.set("running the program", _registered)
        t = time.perf_counter()
        try:
            with watch.running_program(program_dir):
                run = _run_program_quietly(program_dir, stack, preview=not update,
                                           source_positions=source_positions)
            if not run.records:
                raise ProgramError(f"the program {cfg.main} registered no resources, so there is nothing to check: "
                                   f"does it declare its stack when run as __main__ (Pulumi.yaml 'main')?")
        except BaseException:
            streamer.abort()
            raise
        timings["program"] = time.perf_counter() - t

        t = time.perf_counter()
        info, config, diagnostics, not_applicable = streamer.finish(run.records)
        timings["analyze_after_program"] = time.perf_counter() - t

        t = time.perf_counter()
        watch.set("analyzing the stack")
        root = PreviewResult(run, info.name, info.version, [], [], config, 0).root_urn
        with watch.call("AnalyzeStack"):
            found, na = analyzer.analyze_stack([_root_record(run, root)] + run.records, root)
        diagnostics += found
        not_applicable += na
        timings["analyze_stack"] = time.perf_counter() - t
    return PreviewResult(run, info.name, info.version, diagnostics, not_applicable, config,
                         time.perf_counter() - started, timings, info.policies)


class _StreamingAnalysis:
    """Configures the pack, then Remediates/Analyzes each record as the mock monitor records it."""

    def __init__(self, analyzer: Analyzer, cfg: StackConfig, user_config: dict, update: bool, watch: Watch):
        from pulumi.runtime import settings

        self.analyzer, self.cfg, self.user_config, self.update, self.watch = analyzer, cfg, user_config, update, watch
        self._before = settings.get_monitor()  # a previous run's monitor must not be analyzed again
        self._program_done = threading.Event()
        self._aborted = False
        self._final: Optional[list[ResourceRecord]] = None
        self._results: list[tuple[list[Diagnostic], list[dict]]] = []
        self.error: Optional[BaseException] = None
        self.info: Optional[PackInfo] = None
        self.config: Optional[dict[str, tuple[str, dict]]] = None
        self.done = 0
        self._thread = threading.Thread(target=self._run, name="offline-analyze", daemon=True)
        self._thread.start()

    def _configure(self) -> dict[str, tuple[str, dict]]:
        cfg = self.cfg
        checker = config_schema.Checker()  # starts now: it imports while the pack starts
        try:
            with self.watch.call("ConfigureStack (its first call)"):
                self.info = self.analyzer.configure_stack(cfg.project, cfg.stack, "organization", not self.update,
                                                          cfg.config, cfg.secret_keys, cfg.tags)
            self.config = reconcile_config(self.info, self.user_config,
                                           warn=lambda m: print(f"warning: {m}", file=sys.stderr),
                                           check=functools.partial(self._check_config, checker))
        finally:
            checker.stop()
        with self.watch.call("Configure"):
            self.analyzer.configure(self.config)
        return self.config

    def _check_config(self, checker: config_schema.Checker, checks: list[config_schema.Check]) -> list[list[str]]:
        if not checks:  # no policy has settings to check: no answer to wait for
            return []
        # Waited for until the program is done at the latest: then this process's core is free for the check.
        found = checker.errors_elsewhere(checks, give_up=self._program_done)
        if found is None:
            # Checked here instead, which imports jsonschema on this thread: not while the program runs (see
            # offline.policy_driver's imports), so once it is done. Nothing is analyzed before the config is known.
            self._program_done.wait()
            found = config_schema.errors(checks)
        return found

    def _analyze(self, record: ResourceRecord) -> tuple[list[Diagnostic], list[dict]]:
        """Remediate, then Analyze on the rewritten inputs: one resource at a time, on a pool thread."""
        with self.watch.call(f"Remediate of {record.urn}"):
            props, diags = self.analyzer.remediate(record)
        with self.watch.call(f"Analyze of {record.urn}"):
            found, na = self.analyzer.analyze(record, props)
        self.done += 1
        return diags + found, na

    def _read(self, record: ResourceRecord, answer: Callable[[], tuple[list[Diagnostic], list[dict]]]) -> None:
        with self.watch.call(f"Analyze of {record.urn}"):
            self._results.append(answer())
        self.done += 1

    def _run(self) -> None:
        try:
            config = self._configure()
            if any(level == "remediate" for level, _ in config.values()):
                with ThreadPoolExecutor(ANALYZE_THREADS) as pool:
                    futures = [pool.submit(self._analyze, r) for batch in self._new_batches() for r in batch]
                self._results = [f.result() for f in futures]
                return
            # Analyze needs no answer before the next request: each batch the program registered is sent at once,
            # and the answers are read, in order, when the program is done (reading them while it runs would take
            # this process's GIL from it once per answer).
            sent: list[tuple[ResourceRecord, Callable[[], tuple[list[Diagnostic], list[dict]]]]] = []
            for batch in self._new_batches():
                sent += zip(batch, self.analyzer.analyze_batch(batch), strict=True)
            for record, answer in sent:
                self._read(record, answer)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread by finish()
            self.error = exc

    def _new_batches(self) -> Iterator[list[ResourceRecord]]:
        """Each record once, in the batches the mock monitor recorded them in since the last look, until the
        program is done (then the rest of its final list)."""
        from pulumi.runtime import settings

        seen = 0
        while not self._aborted:
            finished = self._program_done.is_set()
            if finished and self._final is not None:
                records: Optional[list[ResourceRecord]] = self._final
            else:
                monitor = settings.get_monitor()
                records = getattr(monitor, "records", None) if monitor is not self._before else None
            if records is not None and len(records) > seen:
                batch = records[seen:]
                seen += len(batch)
                yield batch
            if finished:
                return
            self._program_done.wait(0.05)

    def abort(self) -> None:
        self._aborted = True
        self._program_done.set()
        self._thread.join(timeout=5)

    def finish(self, records: list[ResourceRecord]
               ) -> tuple[PackInfo, dict[str, tuple[str, dict]], list[Diagnostic], list[dict]]:
        self._final = records
        self.watch.set("analyzing resources", lambda: self.done)
        self._program_done.set()
        self._thread.join()
        if self.error is not None:
            raise self.error
        assert self.info is not None and self.config is not None  # _configure set both, or self.error was raised
        diagnostics: list[Diagnostic] = []
        not_applicable: list[dict] = []
        for found, na in self._results:
            diagnostics += found
            not_applicable += na
        return self.info, self.config, diagnostics, not_applicable


def _root_record(run: RunResult, urn: str) -> ResourceRecord:
    """The root Stack resource, which the engine includes in AnalyzeStack (mocks never record it)."""
    from google.protobuf import struct_pb2

    empty = struct_pb2.Struct()
    return ResourceRecord(type="pulumi:pulumi:Stack", name=urn.rsplit("::", 1)[-1], urn=urn, custom=False,
                          parent="", dependencies=[], property_dependencies={}, inputs_struct=empty,
                          outputs_struct=empty)
