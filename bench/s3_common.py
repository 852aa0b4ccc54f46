"""What the modules of the S3 section share: sizes, client settings, buckets, request counts.

The section itself is ``bench/s3.py``; see its docstring for what it measures.
"""

from __future__ import annotations

import os
import ssl
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from dataclasses import dataclass
from typing import Any, ClassVar

from . import _harness
from ._util import MiB

REGION = "us-east-1"
SHA_FIELD = "artifactstore-sha256"  # the metadata field artifactstore writes
MIME = "application/octet-stream"  # what artifactstore guesses for "*.bin"
#: Extra memory allowed on top of the parts in flight, for a multipart upload.
RSS_ALLOWANCE_MIB = 64


@dataclass(frozen=True)
class Sizes(_harness.Sizes):
    """How much work one run does (the full run; ``QUICK``: what --quick changes)."""

    small_count: int = 1000
    small_size: int = 4096
    concurrency: int = 32
    warmup_count: int = 128
    small_reps: int = 3
    large_size: int = 256 * MiB
    large_chunk: int = MiB
    large_reps: int = 5
    part_size: int = 8 * MiB
    parts_in_flight: int = 4
    foreign_size: int = 16 * MiB
    large_tls_reps: int = 5  # the large puts over TLS

    QUICK: ClassVar[dict[str, int]] = {
        "small_count": 200,
        "warmup_count": 32,
        "small_reps": 1,
        "large_size": 32 * MiB,
        "large_reps": 1,
        "large_tls_reps": 1,
    }

    @property
    def rss_target_mib(self) -> float:
        return self.part_size * self.parts_in_flight / MiB + RSS_ALLOWANCE_MIB


def store_options(endpoint: str, sizes: Sizes) -> dict[str, Any]:
    """How every ``S3ArtifactStore`` of this section is configured."""
    from tests.s3server import CREDENTIALS

    return {
        "endpoint_url": endpoint,
        "region": REGION,
        **CREDENTIALS,
        "part_size": sizes.part_size,
        "parts_in_flight": sizes.parts_in_flight,
        "multipart_threshold": sizes.part_size,
        "max_pool_connections": 64,
    }


def botocore_config_args() -> dict[str, Any]:
    """The botocore ``Config`` of the peers: artifactstore's checksum and addressing settings."""
    return {
        "request_checksum_calculation": "when_required",
        "response_checksum_validation": "when_required",
        "s3": {"addressing_style": "path"},
        "max_pool_connections": 64,
    }


def aioboto3_client(endpoint: str) -> Any:
    """A raw aioboto3 S3 client (its async context manager), with the peers' settings."""
    import aioboto3
    from botocore.config import Config

    from tests.s3server import CREDENTIALS

    session = aioboto3.Session(region_name=REGION, **CREDENTIALS)
    return session.client("s3", endpoint_url=endpoint, config=Config(**botocore_config_args()))


def s3fs_filesystem(endpoint: str, ca_bundle: str = "") -> Any:
    """An asynchronous ``s3fs.S3FileSystem`` of its own (no instance cache), with the
    peers' settings; ``ca_bundle``: the server's certificate to trust, over TLS."""
    import s3fs  # type: ignore[import-untyped]

    from tests.s3server import CREDENTIALS

    client_kwargs = {"region_name": REGION}
    if ca_bundle:
        client_kwargs["verify"] = ca_bundle
    return s3fs.S3FileSystem(
        key=CREDENTIALS["aws_access_key_id"],
        secret=CREDENTIALS["aws_secret_access_key"],
        endpoint_url=endpoint,
        asynchronous=True,
        skip_instance_cache=True,  # a fresh client per run
        client_kwargs=client_kwargs,
        config_kwargs=botocore_config_args(),
    )


def installed(module: str) -> bool:
    """Whether ``module`` can be imported (a peer that is not installed is skipped)."""
    import importlib.util

    return importlib.util.find_spec(module) is not None


def sha256_record_supported() -> bool:
    """Whether this artifactstore has the ``sha256_record`` option (checked offline)."""
    from artifactstore import S3ArtifactStore
    from tests.s3server import CREDENTIALS

    try:
        S3ArtifactStore(
            "probe", endpoint_url="http://127.0.0.1:9", sha256_record="copy", **CREDENTIALS
        )
    except TypeError:
        return False
    return True


def source_tree() -> str:
    """The git commit of the checkout, and which files under artifactstore/ differ from it."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=False)
        return done.stdout if done.returncode == 0 else ""

    commit = git("rev-parse", "--short", "HEAD").strip()
    if not commit:
        return "not a git checkout"
    changed = [line[3:] for line in git("status", "--porcelain", "artifactstore").splitlines()]
    if not changed:
        return f"git {commit}, clean"
    return f"git {commit} with uncommitted changes in {', '.join(changed)}"


def make_certificate(directory: str) -> tuple[str, str]:
    """A self-signed certificate for 127.0.0.1 and localhost: the PEM files (cert, key).

    The certificate is its own issuer: a client trusts it by being given it as its
    CA bundle (it is no CA itself: ``BasicConstraints(ca=False)``, as rustls
    wants of a server's certificate).
    """
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "artifactstore-bench moto")])
    now = datetime.datetime.now(datetime.timezone.utc)
    public = key.public_key()
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(public), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = os.path.join(directory, "cert.pem"), os.path.join(directory, "key.pem")
    with open(cert_path, "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))
    with open(os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as f:
        f.write(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
    return cert_path, key_path


def _probe(url: str, context: ssl.SSLContext | None = None) -> str:
    """``ok`` if ``url`` answers, else the error's type and text (one line)."""
    try:
        with urllib.request.urlopen(url, timeout=5, context=context):
            return "ok"
    except Exception as exc:  # what failed is the answer
        text = " ".join(str(getattr(exc, "reason", exc)).split())
        return f"{type(exc).__name__}: {text}"[:160]


@dataclass
class TlsMotoServer:
    """A ``python -m moto.server`` that speaks only HTTPS, with a self-signed certificate."""

    process: subprocess.Popen[bytes]
    port: int
    ca_bundle: str  # the certificate: what a client must trust

    @property
    def endpoint(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    @classmethod
    def start(cls, directory: str) -> TlsMotoServer:
        """Write a certificate into ``directory``, start the server, wait until it answers."""
        from tests.s3server import free_port, stop_process

        cert, key = make_certificate(directory)
        for _attempt in range(5):
            port = free_port()
            command = ["-H", "127.0.0.1", "-p", str(port), "--ssl-cert", cert, "--ssl-key", key]
            process = subprocess.Popen(
                [sys.executable, "-m", "moto.server", *command],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                env={**os.environ, "AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x"},
            )
            server = cls(process, port, cert)
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and process.poll() is None:
                if server.probe()["https, trusting the certificate"] == "ok":
                    return server
                time.sleep(0.1)
            stop_process(process)
        raise RuntimeError("could not start the moto server with TLS")

    def probe(self) -> dict[str, str]:
        """How the server answers: over HTTPS trusting its certificate, over HTTPS with
        the default trust store only, and in plain HTTP (only the first should work)."""
        url = f"127.0.0.1:{self.port}/moto-api/"
        return {
            "https, trusting the certificate": _probe(
                f"https://{url}", ssl.create_default_context(cafile=self.ca_bundle)
            ),
            "https, default trust store": _probe(f"https://{url}", ssl.create_default_context()),
            "plain http": _probe(f"http://{url}"),
        }

    def stop(self) -> None:
        from tests.s3server import stop_process

        stop_process(self.process)


class Buckets:
    """Creates and empties buckets from outside the contenders (plain boto3, untimed).

    ``ca_bundle``: the certificate to trust, for a server with TLS.
    """

    def __init__(self, endpoint: str, ca_bundle: str | None = None) -> None:
        from tests.s3server import CREDENTIALS, boto3_client

        if ca_bundle is None:
            self.client = boto3_client(endpoint)
        else:  # boto3_client's settings, trusting the server's certificate
            import boto3
            from botocore.config import Config

            self.client = boto3.client(
                "s3",
                endpoint_url=endpoint,
                region_name=REGION,
                verify=ca_bundle,
                config=Config(
                    s3={"addressing_style": "path"},
                    request_checksum_calculation="when_required",
                    response_checksum_validation="when_required",
                ),
                **CREDENTIALS,
            )
        self.made = 0

    def create(self, label: str) -> str:
        self.made += 1
        bucket = f"bench-{label}-{self.made}".lower().replace("_", "-")[:63]
        self.client.create_bucket(Bucket=bucket)
        return bucket

    def sha256_metadata(self, bucket: str, key: str) -> str | None:
        head = self.client.head_object(Bucket=bucket, Key=key)
        value: str | None = head.get("Metadata", {}).get(SHA_FIELD)
        return value

    def size_and_parts(self, bucket: str, key: str) -> tuple[int, int]:
        """An object's size, and its part count as its ETag tells ("md5-N"; 1 if single)."""
        head = self.client.head_object(Bucket=bucket, Key=key)
        _, _, parts = head["ETag"].strip('"').partition("-")
        return int(head["ContentLength"]), int(parts or 1)

    def delete(self, bucket: str, key: str) -> None:
        self.client.delete_object(Bucket=bucket, Key=key)

    def remove(self, bucket: str) -> None:
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=bucket):
            objects = [{"Key": item["Key"]} for item in page.get("Contents", [])]
            if objects:
                self.client.delete_objects(Bucket=bucket, Delete={"Objects": objects})
        self.client.delete_bucket(Bucket=bucket)


class RequestLog:
    """The S3 operations one client sends, by name, seen by a botocore event hook.

    ``before-call.s3.*`` fires once per operation (not per retry) with the request
    as it will be sent, headers included: a GetObject without a ``Range`` header
    is a full download.
    """

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self.full_downloads = 0
        self.ranged_gets = 0

    def _seen(self, model: Any, params: Any = None, **kwargs: Any) -> None:
        self.calls[model.name] += 1
        if model.name == "GetObject":
            headers = (params or {}).get("headers", {})
            if any(name.lower() == "range" for name in headers):
                self.ranged_gets += 1
            else:
                self.full_downloads += 1

    async def attach(self, store: Any) -> RequestLog:
        """Count from now on what ``store``'s client (created now if need be) sends."""
        client = await store._s3._client.get()  # also checks the bucket: before counting
        client.meta.events.register("before-call.s3.*", self._seen)
        return self

    def snapshot(self) -> tuple[Counter[str], int, int]:
        return Counter(self.calls), self.full_downloads, self.ranged_gets


def fmt_calls(calls: dict[str, int]) -> str:
    """``{"HeadObject": 1, "GetObjectTagging": 1}`` as ``HeadObject + GetObjectTagging``.

    In the order given (a ``RequestLog``'s: the order the requests were first sent).
    """
    if not calls:
        return "none"
    return " + ".join(name if n == 1 else f"{n} x {name}" for name, n in calls.items())
