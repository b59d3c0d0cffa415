"""Fetch the ADOT collector Lambda layer the SSE image copies, verify its checksum, unpack it (issue 9).

The collector-only layer has no public image, so ``handlers/sse/Dockerfile`` copies its ``extensions/`` from
``handlers/sse/collector/layer/``. This script fills that directory for the version the stack pins
(``adotCollectorLayerVersion`` in ``Pulumi.<stack>.yaml``):

1. Where: Lambda's ``GetLayerVersionByArn`` for ``arn:aws:lambda:<region>:901920570463:layer:aws-otel-collector-
   <arch>-ver-<version with dashes>:<layer version>``, called with the user's AWS credentials, answers a download
   link valid for 10 minutes and the archive's SHA-256 (``Content.Location``, ``Content.CodeSha256``). ``--url``
   takes any URL instead (a mirror, a ``file://`` path), without Lambda's hash.
2. Verify: the archive's sha256 must equal the one pinned in ``handlers/sse/collector/layer.lock`` for this
   version and architecture. No pin yet: the first fetch records it (trust on first use, checked against
   Lambda's own hash when fetched from Lambda) and every later fetch is verified against it; commit the lock.
   A mismatch unpacks nothing.
3. Unpack: into a scratch directory beside the destination (entries escaping it are refused, executable bits
   kept), then swapped in whole, so a failed run never leaves half a layer.

Exit status: 0 done, 1 the archive failed verification, 2 it could not be fetched or unpacked (offline, no
credentials, not a layer).
"""
from __future__ import annotations

import argparse
import base64
import hashlib
import json
import re
import shutil
import sys
import tempfile
import urllib.error
import urllib.request
import zipfile
from pathlib import Path
from typing import Any, Optional

REPO = Path(__file__).resolve().parents[1]
LOCK = REPO / "handlers" / "sse" / "collector" / "layer.lock"
DEST = REPO / "handlers" / "sse" / "collector" / "layer"
#: The account that publishes the AWS-managed ADOT Lambda layers.
ADOT_ACCOUNT = "901920570463"
ARCHES = ("amd64", "arm64")
#: The one entry the Dockerfile needs: Lambda starts every file in /opt/extensions as an extension.
COLLECTOR_ENTRY = "extensions/collector"
CONFIG_KEY = "sentiment-analyzer:adotCollectorLayerVersion"
REGION_KEY = "aws:region"


class FetchError(Exception):
    """The layer could not be fetched or unpacked (exit 2)."""


class VerifyError(Exception):
    """The archive is not the pinned one (exit 1)."""


def layer_arn(region: str, arch: str, version: str, layer_version: int) -> str:
    return (f"arn:aws:lambda:{region}:{ADOT_ACCOUNT}:layer:aws-otel-collector-{arch}-ver-"
            f"{version.replace('.', '-')}:{layer_version}")


def stack_config(stack: str) -> dict[str, Any]:
    import yaml

    path = REPO / f"Pulumi.{stack}.yaml"
    if not path.exists():
        raise FetchError(f"no {path.name}: give --stack dev|prod, or --version and --region")
    return (yaml.safe_load(path.read_text()) or {}).get("config", {})


def read_lock(lock: Path) -> dict[str, Any]:
    if not lock.exists():
        return {}
    try:
        data = json.loads(lock.read_text())
    except ValueError as exc:
        raise VerifyError(f"{lock} is not JSON ({exc}): restore it from git") from exc
    return data if isinstance(data, dict) else {}


def resolve_from_lambda(arn: str, region: str) -> tuple[str, str]:
    """Lambda's download link and hash (base64 SHA-256) for ``arn``, with the caller's credentials."""
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

    try:
        content = boto3.client("lambda", region_name=region).get_layer_version_by_arn(Arn=arn)["Content"]
    except NoCredentialsError as exc:
        raise FetchError("no AWS credentials: the layer is fetched with yours (aws configure / AWS_PROFILE), "
                         "or pass --url") from exc
    except ClientError as exc:
        raise FetchError(f"Lambda refused {arn}: {exc.response.get('Error', {}).get('Message', exc)}") from exc
    except BotoCoreError as exc:
        raise FetchError(f"cannot reach Lambda in {region} (offline?): {exc}") from exc
    return str(content["Location"]), str(content["CodeSha256"])


def download(url: str, into: Path, timeout_s: float = 60.0) -> str:
    """Download ``url`` to ``into``; the sha256 (hex) of what arrived."""
    digest = hashlib.sha256()
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response, into.open("wb") as out:  # noqa: S310
            while chunk := response.read(1 << 20):
                digest.update(chunk)
                out.write(chunk)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        where = url.partition("?")[0]  # a presigned link's signature stays out of the message
        raise FetchError(f"cannot download the layer from {where}: {reason} (offline? pass --url to use a local copy)") from exc
    return digest.hexdigest()


def verify(sha256_hex: str, pinned: Optional[str], lambda_hash: Optional[str]) -> None:
    if lambda_hash is not None:
        as_b64 = base64.b64encode(bytes.fromhex(sha256_hex)).decode()
        if lambda_hash not in (as_b64, sha256_hex):
            raise VerifyError(f"the download's sha256 {sha256_hex} is not Lambda's CodeSha256 {lambda_hash}: "
                              "the transfer was corrupted; run again")
    if pinned is not None and pinned != sha256_hex:
        raise VerifyError(f"checksum mismatch: the layer's sha256 is {sha256_hex}, layer.lock pins {pinned}; "
                          "nothing was unpacked. If the new archive is intended, update layer.lock in a reviewed change")


def unpack(archive: Path, dest: Path) -> int:
    """Unpack ``archive`` into ``dest`` (replaced whole); the number of files written."""
    try:
        zf = zipfile.ZipFile(archive)
    except zipfile.BadZipFile as exc:
        raise FetchError(f"{archive.name} is not a zip archive: not a Lambda layer") from exc
    with zf:
        names = zf.namelist()
        bad = [n for n in names if n.startswith("/") or ".." in Path(n).parts]
        if bad:
            raise FetchError(f"the layer has entries outside its root: {bad[:3]}; refusing to unpack")
        if COLLECTOR_ENTRY not in names:
            raise FetchError(f"the layer has no {COLLECTOR_ENTRY}: not the ADOT collector layer")
        dest.parent.mkdir(parents=True, exist_ok=True)
        scratch = Path(tempfile.mkdtemp(prefix=".layer-", dir=dest.parent))
        try:
            files = 0
            for info in zf.infolist():
                path = Path(zf.extract(info, scratch))
                mode = (info.external_attr >> 16) & 0o777
                if not info.is_dir():
                    files += 1
                    if mode:
                        path.chmod(mode)
            if dest.exists():
                shutil.rmtree(dest)
            scratch.rename(dest)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
    return files


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/fetch-adot-layer", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stack", default="prod", help="read the version and region from Pulumi.<stack>.yaml")
    parser.add_argument("--version", help="ADOT collector layer version, e.g. 0.43.0 (default: the stack's)")
    parser.add_argument("--region", help="the layer's region (default: the stack's aws:region)")
    parser.add_argument("--arch", default="amd64", choices=ARCHES, help="amd64 matches the image's linux/amd64")
    parser.add_argument("--layer-version", type=int, help="the layer's version number in its ARN (default: the lock's, else 1)")
    parser.add_argument("--url", help="download from here instead of asking Lambda (https://, file://)")
    parser.add_argument("--lock", type=Path, default=LOCK)
    parser.add_argument("--dest", type=Path, default=DEST)
    args = parser.parse_args(argv)
    try:
        config = stack_config(args.stack) if not (args.version and (args.region or args.url)) else {}
        version = str(args.version or config.get(CONFIG_KEY) or "")
        if not re.fullmatch(r"\d+\.\d+\.\d+", version):
            raise FetchError(f"ADOT collector version {version!r}: give --version X.Y.Z or set {CONFIG_KEY}")
        key = f"{version}/{args.arch}"
        lock = read_lock(args.lock)
        entry = lock.get(key) or {}
        layer_version = args.layer_version or int(entry.get("layer_version", 1))
        lambda_hash: Optional[str] = None
        if args.url:
            url = args.url
        else:
            region = str(args.region or config.get(REGION_KEY) or "")
            if not region:
                raise FetchError(f"no region: give --region or set {REGION_KEY} in Pulumi.{args.stack}.yaml")
            url, lambda_hash = resolve_from_lambda(layer_arn(region, args.arch, version, layer_version), region)
        with tempfile.TemporaryDirectory() as tmp:
            archive = Path(tmp) / "layer.zip"
            sha = download(url, archive)
            verify(sha, entry.get("sha256"), lambda_hash)
            files = unpack(archive, args.dest)
        if "sha256" not in entry:
            lock[key] = {"layer_version": layer_version, "sha256": sha}
            args.lock.write_text(json.dumps(lock, indent=2, sort_keys=True) + "\n")
            print(f"recorded sha256 {sha} for ADOT collector {key} in {args.lock} (first fetch): commit it")
        print(f"unpacked ADOT collector {key} ({files} files, sha256 {sha}) into {args.dest}")
        return 0
    except VerifyError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except FetchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
