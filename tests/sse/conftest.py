"""Fixtures of the SSE layer: one moto server, one OTLP receiver, and the app in uvicorn subprocesses
started from the function's environment (see ``harness.function_environment``)."""
from __future__ import annotations

import logging

import pytest

from contract import env as names
from contract.data import ITEMS, USERS
from standins.moto_server import MotoServer
from standins.otlp_receiver import OtlpReceiver
from standins.user_pool import UserPool
from tests.sse.harness import APP, ENVIRONMENT, AppProcess, function_environment


@pytest.fixture(scope="session")
def moto():
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # moto's request log
    with MotoServer() as standin:
        yield standin


@pytest.fixture(scope="session")
def tables(moto) -> dict[str, str]:
    """The schema's table names by environment variable, created in the session's moto server."""
    return ensure_tables(moto, ENVIRONMENT)


def ensure_tables(standin, env: str) -> dict[str, str]:
    """The schema's tables, created unless they exist: moto's backends are process-wide, so another
    layer's (or the web layer's) moto server in this pytest process may have made them already."""
    from contract.data import TABLES

    ddb = standin.client("dynamodb")
    names = {}
    for table in TABLES:
        name = table.physical_name(env)
        try:
            ddb.create_table(**table.moto_kwargs(name))
        except ddb.exceptions.ResourceInUseException:
            pass
        names[table.env_var] = name
    return names


@pytest.fixture(scope="session")
def items_table(moto, tables):
    import boto3

    return boto3.resource("dynamodb", endpoint_url=moto.endpoint, region_name="us-east-1",
                          aws_access_key_id="testing", aws_secret_access_key="testing").Table(tables[ITEMS.env_var])


@pytest.fixture(scope="session")
def users_table(moto, tables):
    import boto3

    return boto3.resource("dynamodb", endpoint_url=moto.endpoint, region_name="us-east-1",
                          aws_access_key_id="testing", aws_secret_access_key="testing").Table(tables[USERS.env_var])


@pytest.fixture(scope="session")
def receiver():
    with OtlpReceiver() as rx:
        yield rx


@pytest.fixture(scope="session")
def user_pool(moto) -> UserPool:
    """The program's Cognito pool and web client, in moto: the configuration stream verifies its tokens."""
    return UserPool.create(moto)


@pytest.fixture(scope="session")
def app_factory(moto, tables, user_pool):
    """Start extra app processes (a dead or black-holed collector, a small connection cap)."""
    started: list[AppProcess] = []

    def start(otlp_endpoint: str, app: str = APP, **overrides: str) -> AppProcess:
        pool = {names.COGNITO_ISSUER: user_pool.issuer, names.COGNITO_CLIENT_ID: user_pool.client_id}
        proc = AppProcess(function_environment(moto.endpoint, tables, otlp_endpoint, **{**pool, **overrides}), app=app)
        started.append(proc)
        return proc.start()

    yield start
    for proc in started:
        proc.close()


@pytest.fixture(scope="session")
def sse_app(app_factory, receiver):
    """The main app: live receiver, production settings except short poll and heartbeat intervals."""
    return app_factory(receiver.endpoint)
