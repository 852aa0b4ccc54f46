"""Start an app server (uvicorn or aiohttp) in its own process, on a free loopback port."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from .s3server import free_port, stop_process

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class AppServer:
    process: subprocess.Popen[bytes]
    port: int
    log: IO[bytes]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @classmethod
    def start(cls, kind: str, env: dict[str, str], target: str) -> AppServer:
        port = free_port()
        if kind == "uvicorn":
            command = ["-m", "uvicorn", target, "--host", "127.0.0.1", "--port", str(port)]
            command += ["--log-level", "warning", "--no-access-log"]
        else:
            command = ["-m", "aiohttp.web", "-H", "127.0.0.1", "-P", str(port), target]
        # Its log goes to a file: a pipe nobody reads fills up and stalls the server.
        log = tempfile.TemporaryFile()  # noqa: SIM115 - closed by stop()
        process = subprocess.Popen(
            [sys.executable, *command],
            cwd=ROOT,
            env={**os.environ, **env},
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
        server = cls(process, port, log)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if process.poll() is not None:
                log.seek(0)
                raise RuntimeError(f"{kind} exited: {log.read().decode()[-3000:]}")
            try:
                urllib.request.urlopen(f"{server.url}/artifacts/x", timeout=1)
            except urllib.error.HTTPError:
                return server  # it answered (404): up
            except OSError:
                time.sleep(0.1)
                continue
            return server
        server.stop()
        raise RuntimeError(f"{kind} did not start")

    def open_fds(self) -> int:
        return len(os.listdir(f"/proc/{self.process.pid}/fd"))

    def stop(self) -> None:
        stop_process(self.process)
        self.log.close()
