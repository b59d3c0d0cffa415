"""Run a Pulumi Python program (or any callable) under the recording mock runtime.

This is the one place that knows how to stand up Pulumi's runtime without the CLI: it reads the
project and stack files the way the CLI does, sets the stack's config, runs the program with the
mocks of ``offline.mocks``, waits for every registration and returns what was recorded.
"""
from __future__ import annotations

import asyncio
import contextlib
import json
import os
import runpy
import sys
import types
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import pulumi
from pulumi.runtime import mocks as pm
from pulumi.runtime import resource as pulumi_resource
from pulumi.runtime import rpc
from pulumi.runtime import settings as pulumi_settings
from pulumi.runtime.proto import source_pb2
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

from offline import event_loops, heap
from offline.mocks import DEFAULT_REGION, InvokeArgumentUnknown, ProviderMocks, RecordingMonitor, ResourceRecord, unknown_paths
from offline.yaml_file import load_mapping


class ProgramError(Exception):
    """The program could not be loaded or raised while running; the message says what to change."""


@dataclass
class StackConfig:
    project: str
    stack: str
    main: Path
    config: dict[str, str]
    secret_keys: list[str] = field(default_factory=list)
    #: The stack's tags, sent to the pack in ConfigureStack (``args.stack_tags`` in policies): the tags the CLI
    #: puts on every stack from Pulumi.yaml (``pulumi:project``, ``pulumi:runtime``, ``pulumi:description``),
    #: then the user's (``pulumi stack tag set`` in the CLI; ``run_preview(tags=...)`` offline).
    tags: dict[str, str] = field(default_factory=dict)

    @property
    def region(self) -> str:
        return self.config.get("aws:region", DEFAULT_REGION)


@dataclass
class RunResult:
    stack: StackConfig
    records: list[ResourceRecord]
    outputs: dict[str, Any]
    preview: bool
    #: Paths (key, then nested keys / list indexes) of the stack outputs that are secret.
    secret_outputs: list[tuple] = field(default_factory=list)

    def by_type(self, type_token: str) -> list[ResourceRecord]:
        return [r for r in self.records if r.type == type_token]


def _config_value(value: Any) -> tuple[str, bool]:
    """A stack-file value as the engine passes it to the program: strings as is, objects as JSON."""
    if isinstance(value, dict) and set(value) == {"secure"}:
        # Ciphertext cannot be decrypted offline; programs get a placeholder, marked secret.
        return "offline-secret-placeholder", True
    if isinstance(value, str):
        return value, False
    return json.dumps(value), False


def load_stack_config(program_dir: os.PathLike | str, stack: str) -> StackConfig:
    """Read ``Pulumi.yaml`` and ``Pulumi.<stack>.yaml`` as the CLI does."""
    root = Path(program_dir).resolve()
    project_file = root / "Pulumi.yaml"
    if not project_file.is_file():
        raise ProgramError(f"{root} has no Pulumi.yaml: point --program at a Pulumi project directory")
    project = load_mapping(project_file, ProgramError, mappings=("config",))
    name = project.get("name")
    if not name:
        raise ProgramError(f"{project_file} has no 'name': add the project name")
    runtime = project.get("runtime")
    runtime_name = runtime.get("name") if isinstance(runtime, dict) else runtime
    if runtime_name != "python":
        raise ProgramError(f"{project_file} declares runtime {runtime_name!r}; only python programs can run offline")
    main = root / project.get("main", ".")
    if main.is_dir():
        main = main / "__main__.py"
    if not main.is_file():
        raise ProgramError(f"{main} does not exist: a Python Pulumi program needs a __main__.py")
    stack_file = root / f"Pulumi.{stack}.yaml"
    if not stack_file.is_file():
        raise ProgramError(f"stack '{stack}' has no config file {stack_file.name} in {root}: "
                           f"create it or pass --stack with an existing stack")
    raw = load_mapping(stack_file, ProgramError, mappings=("config",))
    config: dict[str, str] = {}
    secrets: list[str] = []
    # Project-level defaults (`config:` in Pulumi.yaml) first, the stack file wins.
    for key, spec in (project.get("config") or {}).items():
        if isinstance(spec, dict) and "default" in spec:
            full = key if ":" in key else f"{name}:{key}"
            config[full], _ = _config_value(spec["default"])
    for key, value in (raw.get("config") or {}).items():
        full = key if ":" in key else f"{name}:{key}"
        config[full], secret = _config_value(value)
        if secret:
            secrets.append(full)
    tags = {"pulumi:project": name, "pulumi:runtime": runtime_name}
    if project.get("description"):
        tags["pulumi:description"] = str(project["description"])
    return StackConfig(project=name, stack=stack, main=main, config=config, secret_keys=secrets, tags=tags)


_SDK_STACK_TRACE = getattr(pulumi_resource, "_get_stack_trace", None)


def _source_positions(capture: bool) -> None:
    """Registration captures a full ``traceback.extract_stack`` (reading source lines) per resource so the
    engine can print ``file:line`` in diagnostics. That is about 0.8 ms per resource, a tenth of the program's CPU
    time (2,004 synthetic resources: 1.6 of 15.4 CPU s), so the offline runtime registers without it unless asked
    (``--source-positions``: SARIF/GitHub file and line)."""
    if _SDK_STACK_TRACE is not None:
        pulumi_resource._get_stack_trace = _SDK_STACK_TRACE if capture else source_pb2.StackTrace


_SDK_INVOKE = pulumi.runtime.invoke


def _caller_outside_sdks() -> str:
    """``file:line`` of the innermost frame that is the program's, not an SDK's (site-packages) or ours."""
    frame: Optional[types.FrameType] = sys._getframe(2)
    here = os.path.dirname(os.path.abspath(__file__))
    while frame is not None:
        name = frame.f_code.co_filename
        if "site-packages" not in name and not name.startswith(here):
            return f"{os.path.relpath(name)}:{frame.f_lineno}"
        frame = frame.f_back
    return "the program"


def _checked_invoke(tok: str, props: Any, opts: Any = None, typ: Any = None, package_ref: Any = None) -> Any:
    """The SDK's plain invoke, refusing an argument that is unknown in preview with where it is. The SDK answers
    such an invoke with no value (so the generated function fails with "get can only be used with classes
    decorated with @input_type or @output_type"), or, inside a list of plain values, sends the unknown on."""
    serialized = _sync_await(rpc.serialize_properties(props or {}, {}))
    unknown = unknown_paths(rpc.deserialize_properties(serialized, keep_unknowns=True))
    if unknown:
        raise InvokeArgumentUnknown(tok, unknown, where=_caller_outside_sdks())
    return _SDK_INVOKE(tok, props, opts, typ, package_ref)


def _start_runtime(stack: StackConfig, preview: bool, source_positions: bool = False
                   ) -> tuple[RecordingMonitor, ProviderMocks]:
    _source_positions(source_positions)
    pulumi.runtime.invoke = _checked_invoke  # generated data-source functions call it through the package
    pulumi_settings.reset_options()  # else a second run re-parents onto the previous root Stack
    pulumi.runtime.set_all_config(dict(stack.config), list(stack.secret_keys))
    mocks = ProviderMocks(preview=preview, region=stack.region)
    monitor = RecordingMonitor(mocks, config=stack.config)
    pm.set_mocks(mocks, project=stack.project, stack=stack.stack, preview=preview, monitor=monitor,
                 organization="organization")
    return monitor, mocks


def _await_all(fn: Callable[[], Any]) -> None:
    pulumi_settings.SETTINGS.rpc_manager.clear()
    pulumi_settings.SETTINGS.outputs.clear()
    _sync_await(run_pulumi_func(lambda: _sync_await(pulumi.Output.from_input(fn()).future())))


#: How a secret stack output shows in the preview and in ``--json``, as the CLI shows it.
SECRET_MASK = "[secret]"


def _resolve_output_value(value: Any, path: tuple, secrets: list[tuple]) -> Any:
    """A stack output as the engine records it: nested Outputs resolved where known, each unknown leaf the
    unknown sentinel (the rest of a dict or list stays known), resources as ``{urn, id}``, assets by path."""
    if isinstance(value, pulumi.Output):
        if not _sync_await(value.is_known()):
            return pulumi.runtime.rpc.UNKNOWN
        if _sync_await(value.is_secret()):
            secrets.append(path)
        return _resolve_output_value(_sync_await(value.future()), path, secrets)
    if isinstance(value, pulumi.Resource):
        ref = {"urn": _resolve_output_value(value.urn, path + ("urn",), secrets)}
        if isinstance(value, pulumi.CustomResource):
            ref["id"] = _resolve_output_value(value.id, path + ("id",), secrets)
        return ref
    if isinstance(value, (pulumi.Asset, pulumi.Archive)):
        return {k: v for k in ("path", "text", "uri") if isinstance(v := getattr(value, k, None), str)} or str(value)
    if asyncio.isfuture(value) or asyncio.iscoroutine(value):
        return _resolve_output_value(_sync_await(value), path, secrets)
    if isinstance(value, dict):
        return {str(k): _resolve_output_value(v, path + (str(k),), secrets) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_resolve_output_value(v, path + (i,), secrets) for i, v in enumerate(value)]
    if type(value).__name__ == "Unknown":
        return pulumi.runtime.rpc.UNKNOWN
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    try:  # output classes of provider SDKs (``pulumi.output_type``) are dicts underneath
        return _resolve_output_value(dict(value), path, secrets)
    except (TypeError, ValueError):
        return str(value)


def _stack_outputs(secrets: Optional[list[tuple]] = None) -> dict[str, Any]:
    root = pulumi_settings.get_root_resource()
    outputs = getattr(root, "outputs", None) or {}
    found: list[tuple] = [] if secrets is None else secrets
    return {key: _resolve_output_value(value, (key,), found) for key, value in outputs.items()}


class _ExitCalled(BaseException):
    """The program called ``os._exit``: a BaseException, so the program's ``except Exception`` lets it through."""

    def __init__(self, code: object):
        super().__init__(code)
        self.code = code


@contextlib.contextmanager
def _no_os_exit():
    """The program runs in this process, so its ``os._exit(0)`` would end the runner at once with status 0,
    printing nothing: a clean pass that checked nothing. While it runs, ``os._exit`` raises instead (in this
    process only: a child it forks exits as it asked)."""
    real, runner = os._exit, os.getpid()

    def intercepted(code: int) -> None:
        if os.getpid() != runner:
            real(code)
        raise _ExitCalled(code)

    os._exit = intercepted  # type: ignore[assignment]
    try:
        yield
    finally:
        os._exit = real


@contextlib.contextmanager
def _program_context(directory: Path):
    """cwd and import path as the language host sets them for the program. Afterwards the modules the program
    imported from its own directory are forgotten: a program may have packages named like the runner's (its own
    ``contract``), and the runner's later imports must find the runner's, as the language host's process would
    never mix the two."""
    old_cwd, old_path, before = os.getcwd(), list(sys.path), set(sys.modules)
    os.chdir(directory)
    sys.path.insert(0, str(directory))
    try:
        yield
    finally:
        os.chdir(old_cwd)
        sys.path[:] = old_path
        root = directory.resolve()
        for name in set(sys.modules) - before:
            # The program's own: a module whose top-level package (or module) lies directly in its directory. Not
            # whatever else lies below it (a virtualenv inside the project holds the SDKs the runner keeps using).
            top = name.partition(".")[0]
            file = getattr(sys.modules[name], "__file__", None) or ""
            if file and Path(os.path.realpath(file)).is_relative_to(root) and (
                    (root / top).is_dir() or (root / f"{top}.py").is_file()):
                del sys.modules[name]


def run_program(program_dir: os.PathLike | str, stack: str = "prod", *, preview: bool = True,
                source_positions: bool = False) -> RunResult:
    """Run the program in ``program_dir`` for ``stack`` and return every resource it registered (with the program
    line that registered it when ``source_positions``)."""
    cfg = load_stack_config(program_dir, stack)
    loop = event_loops.current()  # before the runtime starts: its futures belong to this loop
    monitor, mocks = _start_runtime(cfg, preview, source_positions)
    with _program_context(cfg.main.parent), _no_os_exit(), heap.long_lived():
        try:
            try:
                # the program returns nothing to await
                _await_all(lambda: runpy.run_path(str(cfg.main), run_name="__main__") and None)
            finally:
                event_loops.reinstall(loop)  # the program may have installed its own loop
            secrets: list[tuple] = []
            outputs = _stack_outputs(secrets)
        except ProgramError:
            raise
        except _ExitCalled as exc:
            raise ProgramError(f"the program called os._exit({exc.code!r}) before it finished: a Pulumi program "
                               f"must return, so that what it declares reaches the engine") from None
        except Exception as exc:  # the program's own error, shown as the CLI would: type and message
            hint = ""
            if isinstance(exc, KeyError) and mocks.stack_references and not preview:
                hint = (f" (stack references {sorted(mocks.stack_references)} have no outputs offline: "
                        f"require_output fails with --update; in preview their outputs are unknown)")
            raise ProgramError(f"the program raised {type(exc).__name__}: {exc}{hint}") from exc
    return RunResult(stack=cfg, records=list(monitor.records), outputs=outputs, preview=preview,
                     secret_outputs=secrets)


def run_callable(fn: Callable[[], Any], *, project: str = "sentiment-analyzer", stack: str = "test",
                 config: Optional[dict[str, str]] = None, preview: bool = True) -> RunResult:
    """Run ``fn`` (which builds resources) as if it were a program; for component tests."""
    cfg = StackConfig(project=project, stack=stack, main=Path("."), config=dict(config or {}))
    loop = event_loops.current()
    monitor, _ = _start_runtime(cfg, preview)
    try:
        with heap.long_lived():
            _await_all(fn)
    finally:
        event_loops.reinstall(loop)
    secrets: list[tuple] = []
    outputs = _stack_outputs(secrets)
    return RunResult(stack=cfg, records=list(monitor.records), outputs=outputs, preview=preview,
                     secret_outputs=secrets)
