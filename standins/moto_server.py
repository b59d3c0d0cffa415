"""A moto server on 127.0.0.1 standing in for AWS, with the project's tables made from the data contract.

Point boto3 at ``address`` (also ``endpoint``, the name of the variable it is set into) through
``AWS_ENDPOINT_URL`` — boto3's own endpoint resolution, exactly as a user would point the code at any
AWS-compatible endpoint. ``address`` is ``http://127.0.0.1:<port>`` and is known once the server started.

moto cannot tell anyone that a request changed its state, so ``wait_for`` hands the predicate the server
itself (query it with ``client(...)``) and re-checks it every ``recheck_seconds``.
"""
from __future__ import annotations

import os
import socket
import urllib.request
from typing import Any, Optional

import boto3
from moto.server import ThreadedMotoServer

from contract.data import TABLES
from standins.base import Standin

#: Credentials and region boto3 needs to sign requests; moto accepts any.
FAKE_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                    "AWS_SESSION_TOKEN": "testing", "AWS_DEFAULT_REGION": "us-east-1"}


def _check_free(port: int) -> None:
    """Raise ``OSError`` when ``port`` on 127.0.0.1 cannot be listened on (as the server would bind it)."""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind(("127.0.0.1", port))


class MotoServer(Standin["MotoServer"]):
    """moto's threaded server on a free loopback port (or ``port``); ``start()`` also sets
    ``FAKE_CREDENTIALS`` in the environment where they are unset, so boto3 clients made anywhere can sign."""

    label = "moto server"
    recheck_seconds = 0.05

    def __init__(self, port: int = 0, region: str = "us-east-1"):
        super().__init__()
        self.region = region
        self._port = port
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
        self._address: Optional[str] = None

    @property
    def address(self) -> str:
        """``http://127.0.0.1:<port>``, for ``AWS_ENDPOINT_URL``."""
        if self._address is None:
            raise RuntimeError("the moto server has no address until it is started")
        return self._address

    @property
    def endpoint(self) -> str:
        """``address`` under the name of the variable it is set into, ``AWS_ENDPOINT_URL``."""
        return self.address

    def _serve(self) -> None:
        if self._port:
            _check_free(self._port)  # moto's thread would die on a busy port and its start() wait forever
        for key, value in FAKE_CREDENTIALS.items():
            os.environ.setdefault(key, value)
        self._server.start()
        host, port = self._server.get_host_and_port()
        self._address = f"http://{host}:{port}"

    def _shutdown(self, was_running: bool) -> None:
        if was_running:
            self._server.stop()

    def _received(self) -> MotoServer:
        return self

    def _summary(self, received: MotoServer) -> str:
        return "(moto keeps no log of its requests; query its state with client(...))"

    # -- using it --------------------------------------------------------------------------------------------
    def client(self, service: str, region: Optional[str] = None) -> Any:
        return boto3.client(service, endpoint_url=self.address, region_name=region or self.region,
                            aws_access_key_id="testing", aws_secret_access_key="testing")

    def create_tables(self, env: str = "test") -> dict[str, str]:
        """Create every table of the data contract; returns ``{table env var: physical name}``."""
        ddb = self.client("dynamodb")
        names = {}
        for table in TABLES:
            name = table.physical_name(env)
            ddb.create_table(**table.moto_kwargs(name))
            names[table.env_var] = name
        return names

    def reset(self) -> None:
        """Forget all state (moto's own reset endpoint), so tests stay independent."""
        urllib.request.urlopen(urllib.request.Request(f"{self.address}/moto-api/reset", method="POST")).read()
