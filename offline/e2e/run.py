"""Orchestrates one end-to-end run and renders its checks (text, or one JSON object with ``--json``)."""
from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Optional

from offline.e2e import checks as C
from offline.e2e import flows
from offline.e2e.account import ProvisioningError
from offline.e2e.apigateway import ApiGatewayEmulator, CognitoVerifier, declared_routes
from offline.e2e.declarations import Declarations
from offline.e2e.system import System, sign_in

REPO = Path(__file__).resolve().parents[2]


def _gateway(system: System) -> ApiGatewayEmulator:
    (stage,) = system.decl.of_type("aws:apigateway/stage:Stage")
    (pool,) = system.decl.of_type("aws:cognito/userPool:UserPool")
    (client,) = system.decl.of_type("aws:cognito/userPoolClient:UserPoolClient")
    verifier = CognitoVerifier(system.account.endpoint, system.account.subs.apply(pool.id),
                               system.account.subs.apply(client.id))
    error_headers = {}
    for response in system.decl.of_type("aws:apigateway/response:Response"):
        if response.inputs.get("responseType") == "DEFAULT_4XX":
            error_headers = {k.rsplit(".", 1)[1]: v.strip("'") for k, v in
                             (response.inputs.get("responseParameters") or {}).items()}

    def invoke(function_arn: str, event: dict, trace: str) -> dict:
        logical = system.by_arn(function_arn)
        if logical is None:
            return {"statusCode": 502, "body": json.dumps({"message": f"no function {function_arn}"})}
        inv = system.invoke("api", logical, event, trace)
        if not inv.ok:  # API Gateway answers 502 when the integration fails
            return {"statusCode": 502, "body": json.dumps({"message": "Internal server error"})}
        return inv.result or {"statusCode": 502}
    gateway = ApiGatewayEmulator(declared_routes(system.decl), invoke, stage.inputs["stageName"], verifier,
                                 error_headers).start()
    system.api_url = gateway.url
    return gateway


def run(stack: str, keep: bool = False, program: Path = REPO, return_system: bool = False) -> Any:
    workdir = Path(tempfile.mkdtemp(prefix=f"offline-e2e-{stack}-"))
    decl = Declarations.load(program, stack)
    system = System(decl, workdir).start()
    gateway: Optional[ApiGatewayEmulator] = None
    try:
        gateway = _gateway(system)
        user_id, id_token = sign_in(system)
        ev = flows.Evidence()
        flows.seed(system, user_id)
        flows.pipeline(system, ev)
        flows.ticks(system, ev)
        flows.api_calls(system, ev, id_token)
        flows.faults(system, ev)
        flows.failures(system, ev)
        flows.fallback(system, ev)
        flows.streaming(system, ev)
        system.daemon.wait_for(lambda docs: len(docs) > 0, timeout=5)
        (workdir / "invocations.json").write_text(json.dumps(
            [{"step": step, **{k: v for k, v in vars(inv).items()}} for step, inv in system.invocations],
            indent=1, default=str))
        results = [
            C.functions_ran(system), C.sc001_sc008_pipeline_one_trace(system, ev), C.sc001_api_one_trace(system, ev),
            C.sc003_sc012_auto_instrumented_once(system), C.sc011_sendgrid_subsegment(system),
            C.sc004_sc019_silent_paths(system, ev), C.sc025_documents_bounded(system),
            C.sc026_warm_invocations_own_trace(system), C.iam_fit_check(system), C.environment_fit(system),
            C.sc010_sc023_sc024_streaming_spans(system, ev), C.streaming_slots(ev),
            C.metric_fit(system), C.log_filter_fit(system, ev), C.collector_log_fit(system), C.cors_fit(ev),
            C.public_access_fit(system), C.trust_fit(system)]
        return (results, system) if return_system else results
    finally:
        if gateway:
            gateway.stop()
        system.stop()
        if not keep:
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            print(f"offline e2e: kept {workdir}", file=sys.stderr)


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m offline e2e", description=__doc__)
    parser.add_argument("--stack", default="prod")
    parser.add_argument("--json", action="store_true", help="one JSON object with every check")
    parser.add_argument("--keep", action="store_true", help="keep the scratch directory (archives, logs)")
    parser.add_argument("--program", type=Path, default=REPO)
    args = parser.parse_args(argv)
    started = time.monotonic()
    try:
        results = run(args.stack, keep=args.keep, program=args.program)
    except ProvisioningError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    seconds = round(time.monotonic() - started, 1)
    failed = [c for c in results if not c.ok]
    if args.json:
        print(json.dumps({"stack": args.stack, "checks": [c.as_dict() for c in results],
                          "summary": {"checks": len(results), "failed": len(failed), "seconds": seconds}}, indent=2))
    else:
        for c in results:
            print(f"{'PASS' if c.ok else 'FAIL'}  {c.name}")
            for line in c.evidence:
                print(f"      {line}")
        print(f"\n{len(results) - len(failed)} passed, {len(failed)} failed ({seconds} s, stack {args.stack})")
    return 1 if failed else 0
