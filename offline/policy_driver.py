"""Drive a CrossGuard policy pack exactly as the Pulumi engine does, without the Pulumi CLI.

``PolicyPackProcess`` launches the pack the way the CLI's language host does
(``python -u -m pulumi.policy <engineAddress> <packDir>``, cwd = the pack, ``PULUMI_*`` env), reads
the port from the first stdout line, drains both pipes, and speaks the ``pulumirpc.Analyzer``
protocol: ``ConfigureStack`` -> ``GetAnalyzerInfo`` -> ``Configure`` (reconciled config, an explicit
level for every policy) -> ``Remediate``/``Analyze`` per resource (a preview's Analyze calls go through a
small process of their own, ``offline.feeder``, so they need little of the runner's GIL) -> one
``AnalyzeStack``. The processes are killed on every exit path (``close``, context manager, ``atexit``, and
``stop_all_packs`` when ``offline.guard`` ends a run that hangs or is signalled). ``InProcessAnalyzer`` runs the
same servicer class in this process for fast tests (private SDK class; pulumi-policy is pinned). Both
speak through ``Analyzer``, which is the engine's side of the protocol.
"""
from __future__ import annotations

import atexit
import contextlib
import functools
import json
import os
import queue
import resource
import signal
import subprocess
import sys
import threading
import weakref
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

# Everything the analysis threads use is imported here, before a program runs: a top-level import on another
# thread while the program runs walks ``sys.path`` while the program shifts it (``sys.path.insert(0, ...)``,
# as programs and the runner do) and can miss the entry it needs ("No module named 'rpds'" from jsonschema,
# which ``config_schema`` imports in a process of its own, or here only once the program is done).
import grpc
import yaml
from google.protobuf import empty_pb2, json_format, struct_pb2
from pulumi.runtime.proto import analyzer_pb2, analyzer_pb2_grpc

from offline import config_schema, own_process
from offline.feeder import CHANNEL_OPTIONS, Feeder, FeederError
from offline.yaml_file import load_mapping

if TYPE_CHECKING:  # for type checkers only: the code imports these where it uses them
    import grpc
    from pulumi.runtime.proto.analyzer_pb2_grpc import AnalyzerStub

LEVELS = {0: "advisory", 1: "mandatory", 2: "disabled", 3: "remediate"}
LEVEL_VALUES = {v: k for k, v in LEVELS.items()}
PORT_TIMEOUT_SECONDS = 60.0
#: Lines of the pack's stderr kept: its error, or the dump of every thread of a hung pack (``dump_threads``).
STDERR_LINES = 500
#: How long a failed call waits for the pack to exit before it reports the pack as running (it usually is gone in
#: milliseconds; a pack still running after a lost connection is reported as such, just this much later).
LOST_PACK_EXIT_SECONDS = 2.0
#: gRPC's own words for a handler that raised: the pack is alive and answered the call with its error.
_HANDLER_RAISED = "Exception calling application"


class PackError(Exception):
    """The policy pack could not be started, configured or run; the message is one line."""


@dataclass
class PolicyInfo:
    name: str
    description: str
    level: str
    kind: str                       # "resource" | "stack"
    schema: dict[str, Any] = field(default_factory=dict)      # property name -> JSON schema
    required: list[str] = field(default_factory=list)


@dataclass
class PackInfo:
    name: str
    version: str
    policies: list[PolicyInfo]
    initial_config: dict[str, dict[str, Any]]


@dataclass
class Diagnostic:
    policy: str
    pack: str
    level: str
    urn: str
    message: str
    description: str = ""

    def as_json(self) -> dict:
        return {"policy": self.policy, "pack": self.pack, "level": self.level, "urn": self.urn,
                "message": self.message}


def pack_version(pack_dir: Path) -> str:
    """The version the CLI shows: PulumiPolicy.yaml's, never the SDK's constant 0.0.1."""
    try:
        data = yaml.safe_load((pack_dir / "PulumiPolicy.yaml").read_text()) or {}
    except (OSError, yaml.YAMLError):
        return "0.0.1"
    return str(data.get("version") or "0.0.1")


def check_pack_dir(pack_dir: Path) -> None:
    if not (pack_dir / "PulumiPolicy.yaml").is_file():
        raise PackError(f"{pack_dir} has no PulumiPolicy.yaml: point --policy-pack at a policy pack directory")
    runtime = load_mapping(pack_dir / "PulumiPolicy.yaml", PackError).get("runtime")
    name = runtime.get("name") if isinstance(runtime, dict) else runtime
    if name != "python":
        raise PackError(f"{pack_dir}/PulumiPolicy.yaml declares runtime {name!r}; only python packs run offline")
    if not (pack_dir / "__main__.py").is_file():
        raise PackError(f"{pack_dir} has no __main__.py: a Python policy pack builds its PolicyPack there")


# -- config reconciliation (the engine's ReconcilePolicyPackConfig) --------------------------------------

def load_config_file(path: Optional[os.PathLike | str]) -> dict:
    if path is None:
        return {}
    try:
        data = json.loads(Path(path).read_text())
    except OSError as exc:
        raise PackError(f"cannot read --policy-pack-config {path}: {exc.strerror or exc}") from exc
    except ValueError as exc:
        raise PackError(f"--policy-pack-config {path} is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise PackError(f"--policy-pack-config {path} must be a JSON object of policy name -> level or settings")
    return data


def _normalize(entries: dict, origin: str) -> dict[str, tuple[Optional[str], dict]]:
    out: dict[str, tuple[Optional[str], dict]] = {}
    for name, value in (entries or {}).items():
        level: Optional[str]
        props: dict
        if isinstance(value, str):
            level, props = value, {}
        elif isinstance(value, dict):
            props = {k: v for k, v in value.items() if k != "enforcementLevel"}
            level = value.get("enforcementLevel")
        else:
            raise PackError(f"{origin}: '{name}' must be an enforcement level or an object, got {value!r}")
        if level is not None and level not in LEVEL_VALUES:
            raise PackError(f"{origin}: '{name}' has enforcement level {level!r}; use one of {', '.join(LEVEL_VALUES)}")
        if name == "all" and props:
            raise PackError(f"{origin}: 'all' can only set an enforcement level")
        out[name] = (level, props)
    return out


def reconcile_config(info: PackInfo, user_config: dict, *, warn: Optional[Callable[[str], object]] = None,
                     check: Callable[[list[config_schema.Check]], list[list[str]]] = config_schema.errors,
                     ) -> dict[str, tuple[str, dict]]:
    """Schema defaults, then the pack's initial config, then the user's file; validated per policy (``check``:
    ``config_schema.errors`` or the same from elsewhere)."""
    levels = {p.name: p.level for p in info.policies}
    settings = {p.name: {k: v["default"] for k, v in p.schema.items() if isinstance(v, dict) and v.get("default") is not None}
                for p in info.policies}
    for origin, entries in (("the pack's initial config", info.initial_config), ("--policy-pack-config", user_config)):
        normalized = _normalize(entries, origin)
        all_level = normalized["all"][0] if "all" in normalized else None
        if all_level:
            for name in levels:
                levels[name] = all_level
        for name, (level, props) in normalized.items():
            if name == "all":
                continue
            if name not in levels:
                if warn:
                    warn(f"{origin} configures '{name}', which pack {info.name} does not have; ignored")
                continue
            if level:
                levels[name] = level
            settings[name].update(props)

    by_name = {p.name: p for p in info.policies}
    checked = [name for name in sorted(settings) if by_name[name].schema]
    found_for = dict(zip(checked, check([(name, by_name[name].schema, list(by_name[name].required), settings[name])
                                          for name in checked]), strict=True))
    errors: list[str] = []
    for name in sorted(settings):
        policy = by_name[name]
        props = settings[name]
        if not policy.schema:
            if warn and props:
                given = ", ".join(repr(k) for k in sorted(props))
                warn(f"policy '{name}' has no settings; {given} {'has' if len(props) == 1 else 'have'} no effect")
            continue
        found = found_for[name]
        # The engine's form, one line per error of every policy: "<pack> <version>  <policy>: <error>".
        errors += [f"validating policy config: {info.name} {info.version}  {name}: {m}" for m in found]
        if warn and not found:
            for key in sorted(set(props) - set(policy.schema)):  # the pack gets it, as from the engine, and ignores it
                warn(f"policy '{name}' has no setting '{key}' (its settings: {', '.join(sorted(policy.schema)) or 'none'})"
                     f"; it has no effect")
    if errors:
        raise PackError("\nerror: ".join(errors))  # printed after "error: ", as the CLI prints each one
    return {name: (level, settings[name]) for name, level in levels.items()}


# -- protocol helpers ---------------------------------------------------------------------------------

def _struct(value: dict) -> struct_pb2.Struct:
    s = struct_pb2.Struct()
    s.update(value)
    return s


def parse_info(resp: Any, pack_dir: Optional[Path]) -> PackInfo:
    policies = []
    for p in resp.policies:
        schema = json_format.MessageToDict(p.configSchema.properties) if p.HasField("configSchema") else {}
        required = list(p.configSchema.required) if p.HasField("configSchema") else []
        kind = "stack" if p.policy_type == 2 else "resource"
        policies.append(PolicyInfo(p.name, p.description, LEVELS.get(p.enforcementLevel, "advisory"), kind,
                                   schema, required))
    initial = {}
    for key, cfg in resp.initialConfig.items():
        entry = json_format.MessageToDict(cfg.properties)
        entry["enforcementLevel"] = LEVELS.get(cfg.enforcementLevel, "advisory")
        initial[key] = entry
    version = pack_version(pack_dir) if pack_dir else resp.version
    return PackInfo(resp.name, version, policies, initial)


_DEFAULTS_LOCK = threading.Lock()


def _options(record: Any) -> Any:
    """``AnalyzerResourceOptions`` as the engine fills them, built once per record (Analyze, Remediate and
    AnalyzeStack share it). Aliases stay empty: the engine sends only aliases that matched a resource of the
    previous deployment, and an offline preview has none."""
    cache = getattr(record, "wire_cache", None)
    if cache is not None and "options" in cache:
        return cache["options"]
    pb = analyzer_pb2
    opts = pb.AnalyzerResourceOptions(
        parent=record.parent, protect=record.protect,
        ignoreChanges=list(getattr(record, "ignore_changes", ()) or ()),
        additionalSecretOutputs=list(getattr(record, "additional_secret_outputs", ()) or ()))
    dbr = getattr(record, "delete_before_replace", None)
    if dbr is not None:
        opts.deleteBeforeReplace, opts.deleteBeforeReplaceDefined = dbr, True
    timeouts = getattr(record, "custom_timeouts", None)
    if timeouts is not None:
        opts.customTimeouts.create, opts.customTimeouts.update, opts.customTimeouts.delete = timeouts
    if cache is not None:
        cache["options"] = opts
    return opts


def _provider(record: Any) -> Any:
    """The ``AnalyzerProviderResource`` of the record's provider (explicit or default) on its inputs, as the
    engine sends it; None for providers, components and the Stack."""
    prov = getattr(record, "provider_resource", None)
    if prov is None:
        return None
    cache = record.wire_cache
    if "provider" not in cache:
        cache["provider"] = analyzer_pb2.AnalyzerProviderResource(
            type=prov.type, properties=prov.inputs_struct, urn=prov.urn, name=prov.name)
    return cache["provider"]


def _own_urn(urn: str, _reported: str) -> str:
    return urn


def _with_default_providers(records: Iterable[Any]) -> Iterable[Any]:
    """The records with each default provider just before its first user, where the engine registers it."""
    emitted: set[str] = set()
    for r in records:
        prov = getattr(r, "provider_resource", None)
        if prov is not None and prov.default_provider and prov.urn not in emitted:
            emitted.add(prov.urn)
            yield prov
        yield r


class Analyzer:
    """The engine's side of the ``pulumirpc.Analyzer`` protocol, whatever carries it: builds each request as
    the engine would and turns the answers into ``PackInfo`` and ``Diagnostic``. ``run_preview`` takes any
    analyzer (``analyzer_factory``), so tests can share one pack process; subclasses provide
    ``_call(method, request)``, the transport."""

    pack_dir: Optional[Path] = None
    info: Optional[PackInfo] = None

    def _call(self, method: str, request: Any) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    def configure_stack(self, project: str, stack: str, organization: str, dry_run: bool,
                        config: dict[str, str], secret_keys: Iterable[str] = (), tags: Optional[dict] = None) -> PackInfo:
        pb = analyzer_pb2
        self._call("ConfigureStack", pb.AnalyzerStackConfigureRequest(
            stack=stack, project=project, organization=organization, dry_run=dry_run,
            config=dict(config), config_secret_keys=list(secret_keys), tags=dict(tags or {})))
        self.info = parse_info(self._call("GetAnalyzerInfo", empty_pb2.Empty()), self.pack_dir)
        return self.info

    def configure(self, config: dict[str, tuple[str, dict]]) -> None:
        pb = analyzer_pb2
        self._call("Configure", pb.ConfigureAnalyzerRequest(policyConfig={
            # the stubs type enum fields as the enum's NewType; the value is the enum's int, as the wire carries it
            name: pb.PolicyConfig(enforcementLevel=LEVEL_VALUES[level],  # type: ignore[arg-type]
                                  properties=_struct(props))
            for name, (level, props) in config.items()}))

    def _diagnostics(self, resp: Any, urn_of: Callable[[str], str]) -> list[Diagnostic]:
        version = self.info.version if self.info else ""
        out = []
        for d in resp.diagnostics:
            pack = f"{d.policyPackName}@v{version or d.policyPackVersion}"
            level = LEVELS.get(d.enforcementLevel, "advisory")
            out.append(Diagnostic(d.policyName, pack, "mandatory" if level == "remediate" else level,
                                  urn_of(d.urn), d.message, d.description))
        return out

    @staticmethod
    def _not_applicable(resp: Any, urn: str) -> list[dict]:
        return [{"policy": n.policy_name, "urn": urn, "reason": n.reason} for n in resp.not_applicable]

    def remediate(self, record: Any) -> tuple[Any, list[Diagnostic]]:
        """Run remediations on the inputs; returns the (possibly rewritten) Struct and what changed."""
        pb = analyzer_pb2
        resp = self._call("Remediate", pb.AnalyzeRequest(
            type=record.type, properties=record.inputs_struct, urn=record.urn, name=record.name,
            options=_options(record), provider=_provider(record)))
        props, applied = record.inputs_struct, []
        version = self.info.version if self.info else ""
        for rem in resp.remediations:
            pack = f"{rem.policyPackName}@v{version or rem.policyPackVersion}"
            if rem.HasField("properties") and rem.properties.fields:
                props = rem.properties
                applied.append(Diagnostic(rem.policyName, pack, "remediate", record.urn,
                                          f"{rem.description}\nremediated: the resource's inputs were rewritten",
                                          rem.description))
            elif rem.diagnostic:
                applied.append(Diagnostic(rem.policyName, pack, "advisory", record.urn, rem.diagnostic,
                                          rem.description))
        return props, applied

    def analyze(self, record: Any, properties: Any = None) -> tuple[list[Diagnostic], list[dict]]:
        """Analyze one resource on its inputs (``properties``: as Remediate rewrote them) and wait for the answer.
        Always by a call of this process's own: remediation analyzes from several pool threads at once, and the
        feeder's answers are read in order by one reader (``analyze_batch``)."""
        return Analyzer._send_analyze(self, [self._analyze_requests(record, properties)])[0]()

    def analyze_batch(self, records: list) -> list[Callable[[], tuple[list[Diagnostic], list[dict]]]]:
        """Send Analyze of each record on its inputs; returns one reader per record, to be called in order."""
        return self._send_analyze([self._analyze_requests(r) for r in records])

    def _send_analyze(self, per_record: list[list[tuple[Any, Any]]]
                      ) -> list[Callable[[], tuple[list[Diagnostic], list[dict]]]]:
        """Send each record's Analyze requests (``_analyze_requests``); one reader of the answers per record."""
        def reader(requests: list[tuple[Any, Any]]) -> Callable[[], tuple[list[Diagnostic], list[dict]]]:
            calls = [(r, self._call_start("Analyze", request)) for r, request in requests]
            return lambda: self._analyze_answers([(r, answer()) for r, answer in calls])
        return [reader(requests) for requests in per_record]

    def _analyze_requests(self, record: Any, properties: Any = None) -> list[tuple[Any, Any]]:
        """The Analyze requests one resource brings, each with the record it is about. The first resource of a
        package that names no provider brings its default provider, which the engine registers (and analyzes)
        first."""
        pb = analyzer_pb2
        requests: list[tuple[Any, Any]] = []
        default = getattr(record, "provider_resource", None)
        if default is not None and default.default_provider and self._first_use(default.urn):
            requests += self._analyze_requests(default)
        requests.append((record, pb.AnalyzeRequest(
            type=record.type, properties=properties if properties is not None else record.inputs_struct,
            urn=record.urn, name=record.name, options=_options(record), provider=_provider(record))))
        return requests

    def _analyze_answers(self, answers: list[tuple[Any, Any]]) -> tuple[list[Diagnostic], list[dict]]:
        """The diagnostics of (record, AnalyzeResponse) pairs. A violation is the analyzed resource's, whatever
        URN the pack reported with it (the engine: ``OnPolicyViolation(r.URN, d)``)."""
        diags: list[Diagnostic] = []
        not_applicable: list[dict] = []
        for record, resp in answers:
            diags += self._diagnostics(resp, functools.partial(_own_urn, record.urn))
            not_applicable += self._not_applicable(resp, record.urn)
        return diags, not_applicable

    def _call_start(self, method: str, request: Any) -> Callable[[], Any]:
        """Send a call and return the function that waits for its answer; transports that cannot keep calls in
        flight answer at once."""
        resp = self._call(method, request)
        return lambda: resp

    def _call_analyze_stack(self, request: bytes) -> Any:
        """AnalyzeStack with its request serialized already; transports that take messages parse it."""
        return self._call("AnalyzeStack", analyzer_pb2.AnalyzeStackRequest.FromString(request))

    def _first_use(self, urn: str) -> bool:
        with _DEFAULTS_LOCK:
            seen: set[str] = self.__dict__.setdefault("_defaults_analyzed", set())
            if urn in seen:
                return False
            seen.add(urn)
            return True

    def analyze_stack(self, records: list, root_urn: str) -> tuple[list[Diagnostic], list[dict]]:
        """The whole stack on its outputs, in registration order, default providers included where the engine
        registers them (just before their first user). A violation reported with the URN of a resource of the
        stack is that resource's; with no URN, or one that is not in the stack, it is the root Stack's (the
        engine: ``DefaultRootStackURN``)."""
        pb = analyzer_pb2
        # The request goes out serialized, one resource at a time: a one-resource request's bytes, concatenated, are
        # the whole request's (protobuf appends a repeated field's entries on merge). A request message of 10,000
        # resources held a copy of every Struct (37 MB), then its serialized copy besides, at the runner's peak.
        chunks: list[bytes] = []
        urns: set[str] = set()
        for r in _with_default_providers(records):
            urns.add(r.urn)
            props = r.outputs_struct if r.outputs_struct is not None else r.inputs_struct
            chunks.append(pb.AnalyzeStackRequest(resources=[pb.AnalyzerResource(
                type=r.type, properties=props, urn=r.urn, name=r.name,
                options=_options(r), provider=_provider(r), parent=r.parent,
                dependencies=list(r.dependencies),
                propertyDependencies={k: pb.AnalyzerPropertyDependencies(urns=v)
                                      for k, v in r.property_dependencies.items() if v})]).SerializeToString())
        request = b"".join(chunks)
        del chunks
        resp = self._call_analyze_stack(request)
        del request  # the pack has it: it need not live while the answer is read
        return (self._diagnostics(resp, lambda urn: urn if urn in urns else root_urn),
                self._not_applicable(resp, root_urn))

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


_LIVE: weakref.WeakSet[PolicyPackProcess] = weakref.WeakSet()


@atexit.register
def stop_all_packs() -> None:
    """Kill every pack process still running: at exit (a crash between start and close must not leak one), and
    when a run is ended from another thread or a signal handler (``offline.guard``), so no channel is touched."""
    for pack in list(_LIVE):
        pack.stop()


#: Runs first in the pack's process, then becomes the pack (``execv``: the same pid, the CLI's command line). It
#: asks the kernel to kill the process when the thread that started it ends (``PR_SET_PDEATHSIG``), so even a
#: runner killed with SIGKILL, which no handler sees, leaves no pack behind. If the runner is gone already, it stops.
#: It also lowers the pack's CPU priority (``own_process.BESIDE_THE_PROGRAM``), which the pack keeps.
_DIE_WITH_PARENT = """\
import ctypes, os, signal, sys
ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # 1: PR_SET_PDEATHSIG
if os.getppid() != int(sys.argv[1]):
    os._exit(1)
os.nice(int(sys.argv[2]))
os.execv(sys.executable, [sys.executable] + sys.argv[3:])
"""


def _dying_with_this_thread(command: list[str]) -> list[str]:
    """``command`` started so that the kernel ends it with the thread that starts it, a little below this process's
    CPU priority (Linux; elsewhere as it is). Packs are started by the thread that runs the preview, which outlives
    them (the CLI's main thread)."""
    if not sys.platform.startswith("linux"):
        return command
    return [command[0], "-S", "-c", _DIE_WITH_PARENT, str(os.getpid()), str(own_process.BESIDE_THE_PROGRAM),
            *command[1:]]


class PolicyPackProcess(Analyzer):
    """The pack as a child process, launched the way the CLI launches it."""

    def __init__(self, pack_dir: os.PathLike | str, *, project: str, stack: str, organization: str = "organization",
                 dry_run: bool = True, config: Optional[dict[str, str]] = None, python: Optional[str] = None,
                 engine_address: str = "127.0.0.1:0"):
        self.pack_dir = Path(pack_dir).resolve()
        check_pack_dir(self.pack_dir)
        # PYTHONFAULTHANDLER: a fatal signal makes the pack print every thread's stack, which is how
        # ``dump_threads`` finds the policy code a hung pack is in.
        env = dict(os.environ, PULUMI_PROJECT=project, PULUMI_STACK=stack, PULUMI_ORGANIZATION=organization,
                   PULUMI_DRY_RUN="true" if dry_run else "false", PULUMI_CONFIG=json.dumps(config or {}),
                   PYTHONFAULTHANDLER="1")
        self.stderr_tail: deque[str] = deque(maxlen=STDERR_LINES)
        self._channel: Optional[grpc.Channel] = None
        self._stub: Optional[AnalyzerStub] = None
        try:
            self.proc = subprocess.Popen(
                _dying_with_this_thread([python or sys.executable, "-u", "-m", "pulumi.policy", engine_address,
                                         str(self.pack_dir)]),
                cwd=self.pack_dir, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                stderr=subprocess.PIPE, text=True, bufsize=1)
        except OSError as exc:
            raise PackError(f"cannot start the policy pack with {python or sys.executable}: {exc}") from exc
        _LIVE.add(self)
        # Started by the first ``analyze_batch``: started here, its imports competed with the pack's and the program's
        # (the prod preview took 0.1-0.2 s longer). One try: if it cannot start, the calls go from this process.
        self.feeder: Optional[Feeder] = None
        self._feeder_tried = False
        self._address = ""
        with contextlib.suppress(OSError):  # the SIGABRT of dump_threads must not leave a core file in the pack
            resource.prlimit(self.proc.pid, resource.RLIMIT_CORE, (0, 0))
        self._port_queue: queue.Queue[Optional[str]] = queue.Queue()
        threading.Thread(target=self._drain_stdout, daemon=True).start()
        self._stderr_drain = threading.Thread(target=self._drain_stderr, daemon=True)
        self._stderr_drain.start()

    def _drain_stdout(self) -> None:
        assert self.proc.stdout is not None  # Popen was given stdout=PIPE
        first = True
        for line in self.proc.stdout:
            if first:
                self._port_queue.put(line)
                first = False
        if first:
            self._port_queue.put(None)

    def _drain_stderr(self) -> None:
        assert self.proc.stderr is not None  # Popen was given stderr=PIPE
        for line in self.proc.stderr:
            self.stderr_tail.append(line.rstrip("\n"))

    def _failure_reason(self) -> str:
        lines = [ln.strip() for ln in self.stderr_tail if ln.strip()]
        # The pack's own error is usually the last line of a traceback ("NameError: ...").
        for line in reversed(lines):
            if not line.startswith(("File ", "^", "Traceback", "~")):
                return line[:300]
        return "no error output"

    def wait_ready(self, timeout: float = PORT_TIMEOUT_SECONDS) -> None:
        try:
            line = self._port_queue.get(timeout=timeout)
        except queue.Empty:
            self.close()
            raise PackError(f"the policy pack in {self.pack_dir} wrote no port within {timeout:.0f} s") from None
        if line is None or not line.strip().isdigit():
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
            threading.Event().wait(0.05)  # let the stderr drain catch the last lines
            reason = self._failure_reason()
            self.close()
            got = "exited" if line is None else f"printed {line.strip()[:60]!r} instead of its port"
            raise PackError(f"the policy pack in {self.pack_dir} failed to start ({got}): {reason}")
        self._channel = grpc.insecure_channel(f"127.0.0.1:{int(line)}", options=CHANNEL_OPTIONS)
        try:
            grpc.channel_ready_future(self._channel).result(timeout=timeout)
        except grpc.FutureTimeoutError:
            self.close()
            raise PackError(f"the policy pack's gRPC server on port {int(line)} did not become ready") from None
        self._stub = analyzer_pb2_grpc.AnalyzerStub(self._channel)
        self._address = f"127.0.0.1:{int(line)}"

    def _send_analyze(self, per_record: list[list[tuple[Any, Any]]]
                      ) -> list[Callable[[], tuple[list[Diagnostic], list[dict]]]]:
        """Through the feeder process (``offline.feeder``): the requests are serialized here and written in one
        write, the calls made there, on the pack's core, and the answers read, in order, by the readers returned.
        Without it (it could not start), from this process."""
        if self._stub is None:
            self.wait_ready()
        if not self._feeder_tried:
            self._feeder_tried = True
            try:
                self.feeder = Feeder()
                self.feeder.connect(self._address)
            except (OSError, FeederError):
                if self.feeder is not None:
                    self.feeder.stop()
                self.feeder = None
        feeder = self.feeder
        if feeder is None:
            return super()._send_analyze(per_record)
        try:
            first = feeder.send([request.SerializeToString() for requests in per_record for _, request in requests])
        except FeederError as exc:
            raise self._failed("Analyze", exc.details) from exc

        def reader(subjects: list[Any], index: int) -> Callable[[], tuple[list[Diagnostic], list[dict]]]:
            def read() -> tuple[list[Diagnostic], list[dict]]:
                try:
                    return self._analyze_answers([(r, analyzer_pb2.AnalyzeResponse.FromString(feeder.answer(index + i)))
                                                  for i, r in enumerate(subjects)])
                except FeederError as exc:
                    raise self._failed("Analyze", exc.details) from exc
            return read
        readers = []
        for requests in per_record:  # only the records are kept until the answers are read, not the requests
            readers.append(reader([r for r, _ in requests], first))
            first += len(requests)
        return readers

    def _call(self, method: str, request: Any) -> Any:
        return self._call_start(method, request)()

    def _call_analyze_stack(self, request: bytes) -> Any:
        """The bytes as they are on the wire: no message of the whole stack is built in this process."""
        if self._channel is None:
            self.wait_ready()
        assert self._channel is not None  # wait_ready made it, or raised
        call = self._channel.unary_unary("/pulumirpc.Analyzer/AnalyzeStack",
                                         response_deserializer=analyzer_pb2.AnalyzeResponse.FromString)
        try:
            return call(request)
        except grpc.RpcError as exc:
            raise self._failed("AnalyzeStack", _details(exc)) from exc

    def _call_start(self, method: str, request: Any) -> Callable[[], Any]:
        """The call is in flight on return (a gRPC future), so that without a feeder a batch's Analyze calls are all
        sent before the first answer is read."""
        if self._stub is None:
            self.wait_ready()
        try:
            future = getattr(self._stub, method).future(request)
        except grpc.RpcError as exc:
            raise self._failed(method, _details(exc)) from exc

        def answer() -> Any:
            try:
                return future.result()
            except grpc.RpcError as exc:
                raise self._failed(method, _details(exc)) from exc
        return answer

    def _failed(self, method: str, detail: str) -> PackError:
        first = detail.splitlines()[0] if detail.strip() else "no details"
        if not detail.startswith(_HANDLER_RAISED):
            # The connection was lost: a pack that is ending closes its sockets before it is gone, and the call
            # fails first (more so through the feeder). Give it a moment, so the reason says that it exited.
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=LOST_PACK_EXIT_SECONDS)
        return PackError(f"the policy pack failed in {method}: {first}"
                         f"{'' if self.proc.poll() is None else f' (pack exited: {self._failure_reason()})'}")

    def dump_threads(self, timeout: float = 10.0) -> list[str]:
        """The stack of every thread of the pack (faulthandler's dump at SIGABRT), as its last stderr lines.
        For a pack that hangs: it is gone afterwards."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGABRT)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=timeout)
        self._stderr_drain.join(timeout=timeout)  # it ends at the pipe's end, after the last line of the dump
        return list(self.stderr_tail)

    def stop(self) -> None:
        """Kill the process (the pack has no Cancel; the engine kills it too) and reap it; the feeder meanwhile (a
        killed pack takes milliseconds to be gone: its memory is freed)."""
        proc = getattr(self, "proc", None)
        killed = proc if proc is not None and proc.poll() is None else None
        if killed is not None:
            killed.kill()
        feeder = getattr(self, "feeder", None)
        if feeder is not None:
            feeder.stop()
        if killed is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                killed.wait(timeout=5)
        _LIVE.discard(self)

    def close(self) -> None:
        if self._channel is not None:
            self._channel.close()
            self._channel = None
        self.stop()


def _details(exc: grpc.RpcError) -> str:
    return (exc.details() if hasattr(exc, "details") else "") or str(exc)


class InProcessAnalyzer(Analyzer):
    """pulumi-policy's own servicer in this process: the production code path minus gRPC and the
    subprocess (private API ``_PolicyAnalyzerServicer``; the SDK's tests use it the same way)."""

    def __init__(self, pack_name: str, policies: list, *, version: str = "0.0.1",
                 enforcement_level: Any = None, initial_config: Optional[dict] = None):
        from pulumi_policy import EnforcementLevel
        from pulumi_policy.policy import _PolicyAnalyzerServicer

        self.version = version
        self.servicer = _PolicyAnalyzerServicer(pack_name, "0.0.1", policies,
                                                enforcement_level or EnforcementLevel.ADVISORY, initial_config)

    def configure_stack(self, *args, **kwargs) -> PackInfo:
        info = super().configure_stack(*args, **kwargs)
        info.version = self.version
        return info

    def _call(self, method: str, request: Any) -> Any:
        return getattr(self.servicer, method)(request, None)
