"""Fixtures of the SSE layer: one moto server, one OTLP receiver, and the app in uvicorn subprocesses
started from the function's environment (see ``harness.function_environment``)."""
from __future__ import annotations

import logging

import pytest

from offline.moto_standin import moto_server
from offline.otlp_receiver import OtlpReceiver
from tests.sse.harness import AppProcess, function_environment


@pytest.fixture(scope="session")
def moto():
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # moto's request log
    with moto_server() as standin:
        tables = standin.create_tables("test")
        standin.tables = tables
        yield standin


@pytest.fixture(scope="session")
def items_table(moto):
    import boto3

    return boto3.resource("dynamodb", endpoint_url=moto.endpoint, region_name="us-east-1",
                          aws_access_key_id="testing", aws_secret_access_key="testing").Table(moto.tables["ITEMS_TABLE"])


@pytest.fixture(scope="session")
def users_table(moto):
    import boto3

    return boto3.resource("dynamodb", endpoint_url=moto.endpoint, region_name="us-east-1",
                          aws_access_key_id="testing", aws_secret_access_key="testing").Table(moto.tables["USERS_TABLE"])


@pytest.fixture(scope="session")
def receiver():
    with OtlpReceiver() as rx:
        yield rx


@pytest.fixture(scope="session")
def app_factory(moto):
    """Start extra app processes (a dead or black-holed collector, a small connection cap)."""
    started: list[AppProcess] = []

    def start(otlp_endpoint: str, app: str = "handlers.sse.app:app", **overrides: str) -> AppProcess:
        proc = AppProcess(function_environment(moto.endpoint, moto.tables, otlp_endpoint, **overrides), app=app)
        started.append(proc)
        return proc.start()

    yield start
    for proc in started:
        proc.close()


@pytest.fixture(scope="session")
def sse_app(app_factory, receiver):
    """The main app: live receiver, production settings except short poll and heartbeat intervals."""
    return app_factory(receiver.endpoint)
