"""Issue 9, the image cannot be built from the repository: its base image and the Lambda Web Adapter were pinned
by tag, which can be moved to other content. They are pinned by digest in the Dockerfile, the stack passes the
same pins, and the component refuses an unpinned one."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from components.streaming_lambda import ImageSource
from tests.infra.conftest import StackView

DOCKERFILE = Path(__file__).resolve().parents[2] / "handlers" / "sse" / "Dockerfile"
PINNED = re.compile(r"[^\s@]+:[^\s@]+@sha256:[0-9a-f]{64}")


def dockerfile_args() -> dict[str, str]:
    """The Dockerfile's ARG declarations and their defaults ('' when none)."""
    args = {}
    for line in DOCKERFILE.read_text().splitlines():
        match = re.fullmatch(r"ARG ([A-Z0-9_]+)(?:=(\S*))?", line.strip())
        if match:
            args[match.group(1)] = match.group(2) or ""
    return args


def test_issue9_every_base_image_is_pinned_by_digest():
    args = dockerfile_args()
    images = {k: v for k, v in args.items() if k.endswith("_IMAGE")}
    assert set(images) == {"LAMBDA_WEB_ADAPTER_IMAGE", "PYTHON_IMAGE"}
    assert all(PINNED.fullmatch(v) for v in images.values()), images
    froms = [line.split()[1] for line in DOCKERFILE.read_text().splitlines() if line.startswith("FROM ")]
    assert froms and all(re.fullmatch(r"\$\{[A-Z0-9_]+_IMAGE\}", f) for f in froms), froms  # no literal tag


def test_issue9_the_stack_passes_the_dockerfiles_pins(stack: StackView):
    """Every build argument the program passes is one the Dockerfile declares (an undeclared one is silently
    ignored), and an image it passes is the Dockerfile's own pin: one pin, not two that drift apart."""
    image = stack.one("docker-build:index:Image")
    passed, declared = image.inputs["buildArgs"], dockerfile_args()
    assert set(passed) <= set(declared), set(passed) - set(declared)
    for key, value in passed.items():
        if key.endswith("_IMAGE"):
            assert value == declared[key], f"{key}: the stack passes {value}, the Dockerfile pins {declared[key]}"


@pytest.mark.parametrize("ref", ["public.ecr.aws/awsguru/aws-lambda-adapter:0.9.1",
                                 "public.ecr.aws/awsguru/aws-lambda-adapter:latest@sha256:abc"])
def test_issue9_an_unpinned_image_argument_is_refused(tmp_path, ref):
    with pytest.raises(ValueError, match="not pinned by digest"):
        ImageSource(context_dir=tmp_path, dockerfile=tmp_path / "Dockerfile", version="1",
                    build_args={"LAMBDA_WEB_ADAPTER_IMAGE": ref})
