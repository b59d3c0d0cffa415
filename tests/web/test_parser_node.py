"""The browser client's SSE parser under Node's built-in test runner (FR-089, FR-099, SC-015).

``web/sse-client.js`` exports ``SSEParser`` as a pure class, so its WHATWG edge cases (CRLF / lone CR,
split UTF-8 and fields, comments, multi-line data, bad ``retry``, NUL in ``id``, an unfinished event at the
end) are checked in ``web/tests/*.test.js`` without a browser; the client's streaming path uses the very
same ``feedBytes``/``end``. This test runs them and checks the count, so a test dropped or skipped there
is noticed here.
"""
from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from tests.sse.harness import REPO

#: Tests in web/tests/*.test.js; update together with that file.
EXPECTED_NODE_TESTS = 16


def test_fr089_fr099_sse_parser_edge_cases_pass_under_node_test():
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is not on PATH: the parser tests need Node.js >= 20 (node --test)")
    files = sorted(str(p.relative_to(REPO)) for p in (REPO / "web" / "tests").glob("*.test.js"))
    assert files, "no web/tests/*.test.js"
    done = subprocess.run([node, "--test", "--test-reporter=tap", *files], cwd=REPO, capture_output=True,
                          text=True, timeout=60)
    summary = dict(re.findall(r"^# (tests|pass|fail|cancelled|skipped|todo) (\d+)$", done.stdout, re.M))
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert {k: int(v) for k, v in summary.items()} == {
        "tests": EXPECTED_NODE_TESTS, "pass": EXPECTED_NODE_TESTS, "fail": 0, "cancelled": 0, "skipped": 0, "todo": 0,
    }, done.stdout[-4000:]
