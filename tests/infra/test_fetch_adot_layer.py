"""Issue 9, the image cannot be built from the repository: ``scripts/fetch-adot-layer`` fetches the ADOT collector
layer, verifies its sha256 against ``layer.lock`` and unpacks what the Dockerfile copies. Run as a user runs it,
against a fake layer zip served from ``file://`` and a local HTTP server."""
from __future__ import annotations

import http.server
import json
import os
import socket
import stat
import subprocess
import threading
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "fetch-adot-layer"


def layer_zip(path: Path, collector: bytes = b"\x7fELF fake collector", extra: dict[str, bytes] | None = None,
              with_collector: bool = True) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        if with_collector:
            info = zipfile.ZipInfo("extensions/collector")
            info.external_attr = (stat.S_IFREG | 0o755) << 16
            zf.writestr(info, collector)
        zf.writestr("collector-config/config.yaml", "receivers: {}\n")
        for name, data in (extra or {}).items():
            zf.writestr(name, data)
    return path


def fetch(tmp_path: Path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([str(SCRIPT), "--version", "0.43.0", "--lock", str(tmp_path / "layer.lock"),
                           "--dest", str(tmp_path / "layer"), *args], cwd=REPO, capture_output=True, text=True,
                          timeout=120, env={**os.environ, **(env or {})})


def test_first_fetch_records_the_sha256_and_unpacks_the_collector_executable(tmp_path):
    archive = layer_zip(tmp_path / "layer.zip")
    done = fetch(tmp_path, "--url", archive.as_uri())
    assert done.returncode == 0, done.stderr
    import hashlib
    lock = json.loads((tmp_path / "layer.lock").read_text())
    assert lock == {"0.43.0/amd64": {"layer_version": 1, "sha256": hashlib.sha256(archive.read_bytes()).hexdigest()}}
    collector = tmp_path / "layer" / "extensions" / "collector"
    assert collector.read_bytes() == b"\x7fELF fake collector" and os.access(collector, os.X_OK)
    assert "recorded sha256" in done.stdout
    again = fetch(tmp_path, "--url", archive.as_uri())  # verified against the recorded pin now
    assert again.returncode == 0 and "recorded" not in again.stdout


def test_a_different_archive_fails_the_pin_and_unpacks_nothing(tmp_path):
    good = layer_zip(tmp_path / "good.zip")
    assert fetch(tmp_path, "--url", good.as_uri()).returncode == 0
    tampered = layer_zip(tmp_path / "tampered.zip", collector=b"\x7fELF something else")
    failed = fetch(tmp_path, "--url", tampered.as_uri())
    assert failed.returncode == 1
    assert "checksum mismatch" in failed.stderr and "nothing was unpacked" in failed.stderr
    assert (tmp_path / "layer" / "extensions" / "collector").read_bytes() == b"\x7fELF fake collector"


def test_served_over_http_like_lambdas_download_link(tmp_path):
    layer_zip(tmp_path / "layer.zip")

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *a, **kw):
            super().__init__(*a, directory=str(tmp_path), **kw)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        done = fetch(tmp_path, "--url", f"http://127.0.0.1:{server.server_address[1]}/layer.zip?X-Amz-Signature=x")
    finally:
        server.shutdown()
        server.server_close()
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "layer" / "extensions" / "collector").exists()


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("how", ["download", "lambda"])
def test_offline_is_a_clear_one_line_error(tmp_path, how):
    port = _closed_port()
    if how == "download":
        failed = fetch(tmp_path, "--url", f"http://127.0.0.1:{port}/layer.zip")
        expected = "cannot download the layer"
    else:
        failed = fetch(tmp_path, "--region", "us-east-1", env={
            "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}", "AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x",
            "AWS_MAX_ATTEMPTS": "1"})
        expected = "cannot reach Lambda in us-east-1"
    assert failed.returncode == 2
    assert failed.stderr.startswith(f"error: {expected}") and failed.stderr.count("\n") == 1
    assert not (tmp_path / "layer").exists() and not (tmp_path / "layer.lock").exists()


@pytest.mark.parametrize("kind", ["no-collector", "escapes-its-root", "not-a-zip"])
def test_what_is_not_the_collector_layer_is_refused(tmp_path, kind):
    archive = tmp_path / "layer.zip"
    if kind == "no-collector":
        layer_zip(archive, with_collector=False)
    elif kind == "escapes-its-root":
        layer_zip(archive, extra={"../../outside": b"x"})
    else:
        archive.write_bytes(b"<html>AccessDenied</html>")
    failed = fetch(tmp_path, "--url", archive.as_uri())
    assert failed.returncode == 2 and failed.stderr.startswith("error: ")
    assert not (tmp_path / "layer").exists() and not (tmp_path.parent / "outside").exists()
