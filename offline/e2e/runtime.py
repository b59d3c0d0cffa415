"""Lambda as Lambda invokes it: a warm worker process per function, from the archive the program packages.

What the worker process gets, and nothing else:
- the function's archive, unpacked (``app.py``, ``common/``, ``contract/``, vendored packages);
- a stand-in for what the runtime and the Powertools layer provide (boto3 and Powertools with their
  dependencies), linked from this virtualenv; every other package must be in the archive;
- the function's declared environment, with endpoint overrides (moto, the news API and SendGrid fakes, the
  X-Ray daemon stand-in) and the variables the Lambda runtime sets;
- credentials of the function's own role (``sts:AssumeRole`` in the emulated account);
- a fresh ``_X_AMZN_TRACE_ID`` per invocation and the declared timeout as its deadline.
"""
from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
import secrets
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from offline.e2e.declarations import Function

WORKER = Path(__file__).with_name("worker.py")
#: What the python3.13 runtime (boto3) and the Powertools v3 layer put on the path.
PROVIDED = ("boto3", "botocore", "s3transfer", "jmespath", "python-dateutil", "six", "urllib3",
            "aws-lambda-powertools", "aws-xray-sdk", "wrapt", "typing_extensions", "pydantic", "pydantic_core",
            "annotated-types", "typing-inspection", "fastjsonschema")
#: Seconds the runner waits past a deadline before it calls the invocation timed out (Lambda kills it then).
KILL_GRACE_S = 2.0


def build_layer(target: Path) -> Path:
    """Links to the top-level packages of the ``PROVIDED`` distributions, so only they are importable."""
    target.mkdir(parents=True, exist_ok=True)
    for dist_name in PROVIDED:
        try:
            dist = importlib.metadata.distribution(dist_name)
        except importlib.metadata.PackageNotFoundError:
            continue
        tops = {Path(str(f)).parts[0] for f in dist.files or [] if not str(f).startswith(("..", "/"))}
        for top in tops:
            if top.endswith((".dist-info", ".pth")) or top == "__pycache__":
                continue
            source = Path(str(dist.locate_file(top)))
            link = target / top
            if source.exists() and not link.exists():
                link.symlink_to(source)
    return target


REPO = Path(__file__).resolve().parents[2]


def local_archive(fn: Function, cache: Path) -> tuple[dict[str, Path], bool]:
    """The function's archive as this machine can run it: the program's files as packaged, but vendored packages
    rebuilt from the archive's own pinned ``requirements.txt`` for this interpreter (the Lambda runtime is
    python3.13 on x86_64; native wheels built for it do not load here). A package missing from the requirements
    stays missing, so the ImportError AWS would raise is raised here too. Returns (archive, rebuilt?)."""
    build = REPO / "build"
    vendored = {arc for arc, src in fn.archive.items() if src.resolve().is_relative_to(build.resolve())}
    requirements = fn.archive.get("requirements.txt")
    if not vendored or requirements is None:
        return dict(fn.archive), False
    digest = hashlib.sha256(requirements.read_bytes() + sys.version.encode()).hexdigest()[:16]
    target = cache / f"{fn.logical}-{digest}"
    if not target.is_dir():
        tmp = cache / f"{fn.logical}-{digest}.partial"
        shutil.rmtree(tmp, ignore_errors=True)
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--disable-pip-version-check", "--no-compile",
                        "--only-binary=:all:", "-r", str(requirements), "--target", str(tmp)],
                       check=True, capture_output=True, timeout=600)
        tmp.rename(target)
    archive = {arc: src for arc, src in fn.archive.items() if arc not in vendored}
    for path in target.rglob("*"):
        if path.is_file() and "__pycache__" not in path.parts:
            archive.setdefault(path.relative_to(target).as_posix(), path)
    return archive, True


def new_trace_header(sampled: bool = True) -> str:
    root = f"1-{int(time.time()):08x}-{secrets.token_hex(12)}"
    return f"Root={root};Parent={secrets.token_hex(8)};Sampled={1 if sampled else 0}"


@dataclass
class Invocation:
    function: str
    ok: bool
    result: Any
    error_type: Optional[str]
    error_message: Optional[str]
    calls: list[dict]
    logs: list[dict]           # JSON log lines (non-JSON lines under {"raw": ...})
    seconds: float
    trace_header: str
    timed_out: bool = False

    @property
    def trace_id(self) -> str:
        return self.trace_header.split(";")[0].removeprefix("Root=")


@dataclass
class LambdaProcess:
    function: Function
    credentials: dict[str, str]
    environment: dict[str, str]           # declared environment with overrides applied
    layer: Path
    workdir: Path
    archive: dict[str, Path]              # what is unpacked into the task root (see local_archive)
    endpoint: str
    daemon_address: str
    process: Optional[subprocess.Popen] = None
    replies: Any = None
    invocations: list[Invocation] = field(default_factory=list)

    def start(self) -> LambdaProcess:
        task = self.workdir / "task"
        if task.exists():
            shutil.rmtree(task)
        for arcname, source in self.archive.items():
            dest = task / arcname
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, dest)
        env = {
            **self.environment,
            "PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "TZ": ":UTC",
            "AWS_LAMBDA_FUNCTION_NAME": self.function.name, "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(int(self.function.memory_mb)),
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{self.function.name}", "AWS_REGION": "us-east-1",
            "AWS_DEFAULT_REGION": "us-east-1", "LAMBDA_TASK_ROOT": str(task), "_HANDLER": self.function.handler or "",
            "AWS_EXECUTION_ENV": "AWS_Lambda_python3.13", "AWS_XRAY_DAEMON_ADDRESS": self.daemon_address,
            "AWS_XRAY_CONTEXT_MISSING": "LOG_ERROR", "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_ACCESS_KEY_ID": self.credentials["aws_access_key_id"],
            "AWS_SECRET_ACCESS_KEY": self.credentials["aws_secret_access_key"],
            "AWS_SESSION_TOKEN": self.credentials["aws_session_token"], "E2E_FUNCTION_ARN": self.function.arn,
        }
        read_fd, write_fd = os.pipe()
        self.process = subprocess.Popen(
            [sys.executable, "-I", "-S", str(WORKER), str(task), str(self.layer), self.function.handler or "app.handler",
             str(write_fd)],
            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=open(self.workdir / "worker.err", "w"),
            env=env, pass_fds=(write_fd,), text=True)
        os.close(write_fd)
        self.replies = os.fdopen(read_fd, "r")
        return self

    def invoke(self, event: Any, trace_header: Optional[str] = None, faults: Optional[list[dict]] = None) -> Invocation:
        assert self.process is not None and self.process.stdin is not None
        header = trace_header or new_trace_header()
        log = self.workdir / f"invocation-{len(self.invocations) + 1}.log"
        deadline_ms = int((time.time() + self.function.timeout_seconds) * 1000)
        self.process.stdin.write(json.dumps({"event": event, "trace": header, "deadline_ms": deadline_ms,
                                             "log": str(log), "faults": faults or []}) + "\n")
        self.process.stdin.flush()
        started = time.monotonic()
        reply = self._read_reply(self.function.timeout_seconds + KILL_GRACE_S)
        if reply is None:  # Lambda ends a function at its timeout; so does the runner
            self.stop()
            invocation = Invocation(self.function.logical, False, None, "Timeout",
                                    f"Task timed out after {self.function.timeout_seconds:.0f} seconds", [], _logs(log),
                                    round(time.monotonic() - started, 3), header, timed_out=True)
            self.start()
        else:
            invocation = Invocation(self.function.logical, reply["ok"], reply.get("result"), reply.get("error_type"),
                                    reply.get("error_message"), reply.get("calls", []), _logs(log), reply["seconds"],
                                    header)
        self.invocations.append(invocation)
        return invocation

    def _read_reply(self, timeout: float) -> Optional[dict]:
        import selectors
        selector = selectors.DefaultSelector()
        selector.register(self.replies, selectors.EVENT_READ)
        try:
            if not selector.select(timeout):
                return None
            line = self.replies.readline()
        finally:
            selector.close()
        if not line:
            err = (self.workdir / "worker.err").read_text()[-2000:]
            raise RuntimeError(f"{self.function.logical}: the worker process died: {err}")
        return json.loads(line)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=5)


def _logs(path: Path) -> list[dict]:
    if not path.exists():
        return []
    out = []
    for line in path.read_text(errors="replace").splitlines():
        try:
            value = json.loads(line)
            out.append(value if isinstance(value, dict) else {"raw": line})
        except json.JSONDecodeError:
            out.append({"raw": line})
    return out

