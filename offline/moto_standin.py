"""A moto server on 127.0.0.1 standing in for AWS, with the project's tables created from the schema.

Used by the handler, SSE and e2e tests and by ``python -m offline e2e``. Point boto3 at it with
``AWS_ENDPOINT_URL`` (boto3's own endpoint resolution), exactly as a user would point the code at any
AWS-compatible endpoint.
"""
from __future__ import annotations

import os
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator

import boto3
from moto.server import ThreadedMotoServer

from contract.data import TABLES

FAKE_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                    "AWS_SESSION_TOKEN": "testing", "AWS_DEFAULT_REGION": "us-east-1"}


@dataclass
class MotoStandin:
    endpoint: str
    region: str = "us-east-1"

    def client(self, service: str):
        return boto3.client(service, endpoint_url=self.endpoint, region_name=self.region,
                            aws_access_key_id="testing", aws_secret_access_key="testing")

    def create_tables(self, env: str = "test") -> dict[str, str]:
        """Create every table of ``components.schema``; returns ``{ENV_VAR: physical name}``."""
        ddb = self.client("dynamodb")
        names = {}
        for table in TABLES:
            name = table.physical_name(env)
            ddb.create_table(**table.moto_kwargs(name))
            names[table.env_var] = name
        return names

    def reset(self) -> None:
        """Forget all state (moto's own reset endpoint), so tests stay independent."""
        import urllib.request

        urllib.request.urlopen(urllib.request.Request(f"{self.endpoint}/moto-api/reset", method="POST")).read()


@contextmanager
def moto_server() -> Iterator[MotoStandin]:
    """Start a moto server on a free loopback port for the duration of the block."""
    for key, value in FAKE_CREDENTIALS.items():
        os.environ.setdefault(key, value)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield MotoStandin(endpoint=f"http://{host}:{port}")
    finally:
        server.stop()
