"""The moto S3 server helper of the tests: ``artifactstore.testing.moto_server``.

One implementation, shared with the pytest plugin's ``artifactstore_moto_server``
fixture (which ``moto_server`` in conftest.py is); re-exported here for the test
modules and benchmarks that import it from ``tests``.
"""

from __future__ import annotations

from artifactstore.testing.moto_server import (
    CREDENTIALS,
    MotoServer,
    boto3_client,
    free_port,
    new_bucket,
    stop_process,
)

__all__ = ["CREDENTIALS", "MotoServer", "boto3_client", "free_port", "new_bucket", "stop_process"]
