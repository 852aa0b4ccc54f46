"""A moto S3 server in its own process, on a free loopback port, for tests.

moto's in-process mock does not intercept aiobotocore, so tests talk HTTP to a real
server process (``python -m moto.server``), as they would to MinIO or AWS. Needs
``moto[server]`` (and boto3, which it brings) installed; importing this module
imports neither.

    server = MotoServer.start()
    try:
        bucket = new_bucket(server)
        store = S3ArtifactStore(bucket, **server.store_options())
        ...
    finally:
        server.stop()

The pytest plugin's ``artifactstore_moto_server`` fixture starts one for the whole
session.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from dataclasses import dataclass
from typing import Any

__all__ = [
    "CREDENTIALS",
    "MotoServer",
    "boto3_client",
    "free_port",
    "new_bucket",
    "stop_process",
]

#: The (fake) credentials the S3 stores and clients of the tests sign with.
CREDENTIALS = {"aws_access_key_id": "testing-key-id", "aws_secret_access_key": "testing-secret"}


def free_port() -> int:
    """A TCP port nothing listens on right now, on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class MotoServer:
    """A running ``python -m moto.server``; ``stop()`` ends it."""

    process: subprocess.Popen[bytes]
    port: int

    @property
    def endpoint(self) -> str:
        """The server's URL, for ``endpoint_url``."""
        return f"http://127.0.0.1:{self.port}"

    def store_options(self) -> dict[str, Any]:
        """Keyword arguments for ``S3ArtifactStore(bucket, **options)`` against this server."""
        return {"endpoint_url": self.endpoint, "region": "us-east-1", **CREDENTIALS}

    @classmethod
    def start(cls, port: int | None = None, **env_extra: str) -> MotoServer:
        """Start a server (on ``port``, or a free one) and wait until it answers.

        ``env_extra`` adds environment variables of the server process (moto reads
        some settings from there). Raises ``RuntimeError`` if no server came up.
        """
        for _attempt in range(5):
            chosen = port or free_port()
            env = {**os.environ, "AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x"}
            env.update(env_extra)
            process = subprocess.Popen(
                [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(chosen)],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                env=env,
            )
            server = cls(process, chosen)
            if server.wait_ready():
                return server
            server.stop()
        raise RuntimeError("could not start the moto server (is moto[server] installed?)")

    def wait_ready(self, timeout: float = 30.0) -> bool:
        """Wait until the server answers; ``False`` if it died or ``timeout`` passed."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                return False
            try:
                with urllib.request.urlopen(f"{self.endpoint}/moto-api/", timeout=1):
                    return True
            except OSError:
                time.sleep(0.1)
        return False

    def reset(self) -> None:
        """Forget every bucket and object (moto's reset API)."""
        request = urllib.request.Request(f"{self.endpoint}/moto-api/reset", method="POST")
        with urllib.request.urlopen(request, timeout=10):
            pass

    def stop(self) -> None:
        """End the server process."""
        stop_process(self.process)


def stop_process(process: subprocess.Popen[bytes]) -> None:
    """Terminate a server process, killing it if it does not go within 10 s."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def boto3_client(endpoint: str) -> Any:
    """A plain synchronous boto3 client, for setting up and checking from outside."""
    import boto3
    from botocore.config import Config

    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        config=Config(
            s3={"addressing_style": "path"},
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        ),
        **CREDENTIALS,
    )


def new_bucket(server: MotoServer, prefix: str = "test") -> str:
    """Create a bucket with a fresh name on ``server``; return its name (blocking)."""
    name = f"{prefix}-{uuid.uuid4().hex[:12]}"
    boto3_client(server.endpoint).create_bucket(Bucket=name)
    return name
