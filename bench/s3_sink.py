"""S3 section, scenario 5: the client's own cost of a large put, against a server that discards.

moto is a Python server sharing the machine's 2 cores with the client: its CPU
time and its serial ``CompleteMultipartUpload`` (which concatenates and checksums
the whole object) make most of a large put's wall time, and the MB/s ratios of
the large-put tables vary by 10 to 20% between runs. What a client controls is
its own work. This scenario measures it: the same 256 MiB puts, each in a fresh
subprocess (``bench.s3_large``'s children, without their checks), against a tiny
loopback server (``python -m bench.s3_sink --serve PORT [CERT KEY]``) that answers
every S3 request the uploads make and throws the bytes away, over plain HTTP and
over TLS (a self-signed certificate the clients trust, as in scenario 4). The
figure is the client process's CPU time (user + system, every thread) for the
upload: what the client costs a machine it shares, and the bound on its speed
against a fast server.

Only artifactstore and obstore take part: raw aioboto3 and s3fs would need more
of S3 than this server answers.
"""

from __future__ import annotations

import asyncio
import os
import ssl
import subprocess
import sys
from typing import Any

from ._child import REPO_ROOT
from ._harness import rounds
from ._util import Report, Table, fmt_ratio, median
from .s3_common import Sizes, make_certificate
from .s3_large import (
    OBSTORE,
    OBSTORE_HASHED,
    PATH,
    STREAM,
    Kind,
    make_job,
    make_source,
    run_child,
)

#: The contenders this server can serve.
SINK_KINDS = (PATH, STREAM, OBSTORE, OBSTORE_HASHED)

_INITIATE = (
    b'<?xml version="1.0" encoding="UTF-8"?><InitiateMultipartUploadResult>'
    b"<Bucket>sink</Bucket><Key>k</Key><UploadId>u1</UploadId></InitiateMultipartUploadResult>"
)
_COMPLETE = (
    b'<?xml version="1.0" encoding="UTF-8"?><CompleteMultipartUploadResult><Bucket>sink</Bucket>'
    b'<Key>k</Key><ETag>"0123456789abcdef0123456789abcdef-1"</ETag></CompleteMultipartUploadResult>'
)
_DELETED = (
    b'<?xml version="1.0" encoding="UTF-8"?><DeleteResult>'
    b"<Deleted><Key>large/warmup.bin</Key></Deleted></DeleteResult>"
)
_ETAG = 'ETag: "0123456789abcdef0123456789abcdef"\r\n'


class _Sink(asyncio.BufferedProtocol):
    """HTTP/1.1 with keep-alive: reads each request's body into one reused buffer."""

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        self.buffer = bytearray(1 << 20)
        self.head = bytearray()
        self.left = 0  # body bytes still to come
        self.line = ""

    def get_buffer(self, sizehint: int) -> bytearray:
        return self.buffer

    def buffer_updated(self, nbytes: int) -> None:
        self._feed(memoryview(self.buffer)[:nbytes])

    def _feed(self, data: memoryview) -> None:
        while data:
            if self.left:
                taken = min(self.left, len(data))
                self.left -= taken
                data = data[taken:]
                if not self.left:
                    self._answer()
                continue
            self.head += data
            end = self.head.find(b"\r\n\r\n")
            if end < 0:
                return
            rest, head = bytes(self.head[end + 4 :]), bytes(self.head[:end])
            self.head.clear()
            lines = head.split(b"\r\n")
            self.line = lines[0].decode("latin-1")
            for header in lines[1:]:
                name, _, value = header.partition(b":")
                name = name.strip().lower()
                if name == b"content-length":
                    self.left = int(value)
                elif name == b"expect":
                    self.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            if not self.left:
                self._answer()
            data = memoryview(rest)

    def _answer(self) -> None:
        method, target = self.line.split(" ")[:2]
        body, extra = b"", ""
        if method == "POST" and "?delete" in target:
            body = _DELETED
        elif method == "POST" and "uploadId=" not in target:
            body = _INITIATE
        elif method == "POST":
            body = _COMPLETE
        elif method in ("PUT", "HEAD"):
            extra = _ETAG
        status = "204 No Content" if method == "DELETE" else "200 OK"
        self.transport.write(
            f"HTTP/1.1 {status}\r\n{extra}Content-Length: {len(body)}\r\n"
            "Content-Type: application/xml\r\n\r\n".encode("latin-1")
            + body
        )


async def _serve(port: int, cert: str = "", key: str = "") -> None:
    context = None
    if cert:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(cert, key)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(_Sink, "127.0.0.1", port, ssl=context)
    print("ready", flush=True)
    await server.serve_forever()


class _SinkServer:
    """``python -m bench.s3_sink --serve`` in a process of its own, until ``stop``."""

    def __init__(self, workdir: str, tls: bool) -> None:
        import psutil  # type: ignore[import-untyped,unused-ignore]

        from tests.s3server import free_port

        self.port = free_port()
        self.ca_bundle = ""
        command = [sys.executable, "-m", "bench.s3_sink", "--serve", str(self.port)]
        if tls:
            directory = os.path.join(workdir, "sink-tls")
            os.makedirs(directory, exist_ok=True)
            self.ca_bundle, key = make_certificate(directory)
            command += [self.ca_bundle, key]
        self.process = subprocess.Popen(
            command,
            cwd=REPO_ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        if self.process.stdout.readline().strip() != "ready":
            self.stop()
            raise RuntimeError("the sink server did not start")
        self.psutil = psutil.Process(self.process.pid)
        self.endpoint = f"{'https' if tls else 'http'}://127.0.0.1:{self.port}"

    def cpu_seconds(self) -> float:
        times = self.psutil.cpu_times()
        return float(times.user + times.system)

    def stop(self) -> None:
        self.process.kill()
        self.process.wait()


def client_costs(sizes: Sizes, workdir: str, reps: int) -> dict[str, Any]:
    """``reps`` uploads of each contender against the sink, over HTTP and over TLS."""
    kinds: list[Kind] = list(SINK_KINDS)
    source, _sha256 = make_source(workdir, sizes)
    results: dict[str, Any] = {}
    for scheme in ("http", "https"):
        server = _SinkServer(workdir, tls=scheme == "https")
        runs: dict[str, list[dict[str, float]]] = {kind.name: [] for kind in kinds}
        try:
            for rep, kind in rounds(kinds, reps):
                before = server.cpu_seconds()
                key = f"sink/{kind.name}-{rep}.bin"
                job = make_job(
                    kind,
                    key,
                    server.endpoint,
                    "sink",
                    source,
                    sizes,
                    ca_bundle=server.ca_bundle,
                    sink=True,
                )
                one = run_child(job, workdir)
                one["sink_cpu_seconds"] = server.cpu_seconds() - before
                runs[kind.name].append(one)
                print(
                    f"  client cost over {scheme} #{rep + 1} {kind.label:36} "
                    f"{one['cpu_seconds']:.3f} s CPU in {one['seconds']:.3f} s",
                    flush=True,
                )
        finally:
            server.stop()
        results[scheme] = {
            name: {
                "label": next(kind.label for kind in kinds if kind.name == name),
                "cpu_seconds": [one["cpu_seconds"] for one in samples],
                "median_cpu_seconds": median([one["cpu_seconds"] for one in samples]),
                "median_seconds": median([one["seconds"] for one in samples]),
                "median_sink_cpu_seconds": median([one["sink_cpu_seconds"] for one in samples]),
                "payloads": samples[0]["payloads"],
            }
            for name, samples in runs.items()
        }
    return results


def cost_table(report: Report, sizes: Sizes, costs: dict[str, Any]) -> None:
    """The client-cost table (informational: no target is set on it)."""
    rows = []
    for scheme, results in costs.items():
        peer = results.get(OBSTORE.name)
        for name, res in results.items():
            versus = "-"
            if peer is not None and name != OBSTORE.name:
                versus = fmt_ratio(res["median_cpu_seconds"] / peer["median_cpu_seconds"])
            rows.append(
                [
                    res["label"],
                    scheme.upper() if scheme == "http" else "TLS",
                    f"{res['median_cpu_seconds']:.3f}",
                    versus,
                    " / ".join(f"{value:.3f}" for value in res["cpu_seconds"]),
                    f"{res['median_seconds']:.3f}",
                    f"{res['median_sink_cpu_seconds']:.3f}",
                ]
            )
    reps = len(next(iter(next(iter(costs.values())).values()))["cpu_seconds"])
    report.tables.append(
        Table(
            f"Client cost: CPU time of one {sizes.large_size // 1024**2} MiB put against a "
            "server that discards the bytes",
            ["contender", "over", "client CPU s", "/ obstore", "runs", "wall s", "server CPU s"],
            rows,
            note=(
                f"{reps} uploads of each contender over each scheme, interleaved, each in a "
                "fresh subprocess (the large puts' children, without their checks), against "
                "a loopback server in a process of its own that answers each S3 request of "
                "an upload and discards the body (bench/s3_sink.py). client CPU s: median "
                "CPU time (user + system, every thread) of the upload; / obstore: that "
                "time over obstore's (lower is cheaper). Over HTTP every client signs each "
                "part (a SHA-256 of it); artifactstore also computes the artifact's own "
                "SHA-256, the one it records: a second pass over every byte. Over TLS "
                "artifactstore sends its parts unsigned (one SHA-256 pass, the artifact's); "
                "obstore signs them."
            ),
        )
    )


if __name__ == "__main__":
    if sys.argv[1:2] != ["--serve"] or len(sys.argv) not in (3, 5):
        sys.exit("usage: python -m bench.s3_sink --serve PORT [CERT KEY]")
    asyncio.run(_serve(int(sys.argv[2]), *sys.argv[3:5]))
