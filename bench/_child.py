"""Child processes: a scenario run in a fresh interpreter, so that its memory is its own.

The parent calls ``run_child("bench.x", spec)``, which runs ``python -m bench.x
--child SPEC_JSON`` from the repository root and returns the JSON object the child
printed last. The child module ends with ``child_main(__name__, sys.argv[1:],
scenario)``, where ``scenario(spec)`` is a coroutine function returning that object.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

#: The folder that holds the ``bench`` package (and ``tests``, which some children use).
REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_child(
    module: str,
    spec: Mapping[str, Any],
    *,
    what: str = "",
    timeout: float | None = None,
    env: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Run ``python -m module --child SPEC``; return its JSON (``RuntimeError`` on failure).

    ``env``: variables added to this process's environment for the child;
    ``timeout``: ``subprocess.TimeoutExpired`` after that many seconds.
    """
    done = subprocess.run(
        [sys.executable, "-m", module, "--child", json.dumps(spec)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=timeout,
        env={**os.environ, **env} if env else None,
    )
    if done.returncode != 0:
        raise RuntimeError(f"{what or module} child exited with {done.returncode}:\n{done.stderr}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def child_main(
    module: str,
    argv: list[str],
    scenario: Callable[[dict[str, Any]], Awaitable[dict[str, Any]]],
) -> None:
    """The child's entry point: run ``scenario(spec)``, print its JSON, leave at once.

    The child leaves with ``os._exit``, without the interpreter's teardown: obstore's
    runtime threads sometimes abort the process (SIGABRT) while Python tears itself
    down, after the result is printed, and a stalled put's worker thread could keep
    a normal exit waiting.
    """
    if len(argv) != 2 or argv[0] != "--child":
        sys.exit(f"usage: python -m {module} --child SPEC_JSON")
    result = asyncio.run(scenario(json.loads(argv[1])))
    print(json.dumps(result), flush=True)
    sys.stderr.flush()
    os._exit(0)
