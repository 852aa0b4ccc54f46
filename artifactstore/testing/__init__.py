"""Test your backend and your service with artifactstore's own contract.

The ArtifactStore contract as a conformance suite any backend can run, including
third-party ones (in the manner of object_store's), with explicit capability flags
for its optional parts; and a pytest plugin (loaded automatically once artifactstore
is installed) with fixtures for services that store artifacts:
``memory_artifact_store``, ``local_artifact_store``, ``s3_artifact_store`` (with
moto installed) and their ``sync_`` twins.

Run the suite in one call::

    from artifactstore.testing import run_conformance

    report = await run_conformance(lambda: MyStore(...))  # a fresh, empty store each time

or one pytest test per check::

    @pytest.mark.parametrize("check", conformance_checks(MyBackend.info), ids=str)
    async def test_conformance(check, my_store, tmp_path):
        await check(my_store, tmp_path)

Nothing here needs pytest but the plugin (``artifactstore.testing.plugin``); under
pytest the checks' asserts are rewritten so that a failure shows the values
compared. See docs/testing.md.
"""

from __future__ import annotations

import sys

if "pytest" in sys.modules:  # show the compared values when a check fails under pytest
    sys.modules["pytest"].register_assert_rewrite("artifactstore.testing._conformance")

from .. import _publish
from ._conformance import (
    CHECKS,
    ConformanceCheck,
    conformance_checks,
    raises,
)
from ._faults import Fault, FaultLayer, transient
from ._runner import (
    ConformanceError,
    ConformanceFailure,
    ConformanceReport,
    run_conformance,
)

__all__ = [
    "CHECKS",
    "ConformanceCheck",
    "ConformanceError",
    "ConformanceFailure",
    "ConformanceReport",
    "Fault",
    "FaultLayer",
    "conformance_checks",
    "raises",
    "run_conformance",
    "transient",
]

_publish(__name__, __all__, globals())
