"""S3 hardening (issue 11, items 6 and 7): credentials out of DEBUG logs, metadata as sent.

Against the moto server of ``tests/s3server.py``, over HTTP.
"""

from __future__ import annotations

import logging
import re
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from artifactstore import S3ArtifactStore
from artifactstore.backends.s3 import _metadata
from artifactstore.metadata import MAX_USER_METADATA_BYTES

from .s3server import CREDENTIALS, MotoServer, boto3_client, free_port

# ---------------------------------------------------------------- item 6: logs


@dataclass(frozen=True)
class Profile:
    """A profile's temporary credentials, new for each test (the redaction is global).

    Shaped like real ones: '/', '+' and '=' are percent-encoded in a presigned URL,
    so both forms must stay out of the logs.
    """

    name: str
    key_id: str
    secret: str
    token: str

    @classmethod
    def new(cls) -> Profile:
        unique = uuid.uuid4().hex.upper()
        return cls(
            name="deal-team",
            key_id=f"ASIA{unique[:16]}",
            secret=f"pr0file/Secret+Key={unique}/wJalrXUtnFEMI",
            token=f"IQoJb3JpZ2luX2VjE/Session+Token={unique}" + "Zm9vYmFy" * 12 + "==",
        )

    def secrets(self) -> tuple[str, str, str]:
        return (self.key_id, self.secret, self.token)


_CREDENTIAL_ENV = (
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_ROLE_ARN",
)


def forms(secret: str) -> set[str]:
    """A secret as it may be printed: raw, or percent-encoded as in a query string."""
    return {secret, quote(secret, safe=""), quote(secret, safe="-_.~"), quote(secret, safe="/")}


def logged_text(record: logging.LogRecord) -> str:
    """Everything a handler could print of a record: message, args, exception."""
    parts = [logging.Formatter().format(record), str(record.msg), repr(record.args)]
    return "\n".join(parts)


@pytest.fixture
def profile(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Profile:
    """A profile with a session token in temporary AWS files, nothing in the environment."""
    for name in _CREDENTIAL_ENV:
        monkeypatch.delenv(name, raising=False)
    made = Profile.new()
    credentials = tmp_path / "credentials"
    credentials.write_text(
        f"[{made.name}]\n"
        f"aws_access_key_id = {made.key_id}\n"
        f"aws_secret_access_key = {made.secret}\n"
        f"aws_session_token = {made.token}\n"
    )
    config = tmp_path / "config"
    config.write_text(f"[profile {made.name}]\nregion = us-east-1\n")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(credentials))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")  # no instance role lookups
    return made


@pytest.mark.parametrize("how", ["profile_name", "AWS_PROFILE"])
async def test_profile_credentials_stay_out_of_debug_logs(
    moto_server: MotoServer,
    profile: Profile,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    how: str,
) -> None:
    bucket = f"test-{uuid.uuid4().hex[:12]}"
    boto3_client(moto_server.endpoint).create_bucket(Bucket=bucket)
    options: dict[str, Any] = {"endpoint_url": moto_server.endpoint, "region": "us-east-1"}
    if how == "profile_name":
        options["profile_name"] = profile.name
    else:
        monkeypatch.setenv("AWS_PROFILE", profile.name)
    caplog.set_level(logging.DEBUG)  # the root logger: botocore, aiobotocore, aiohttp, ours
    async with S3ArtifactStore(bucket, **options) as store:
        await store.put("DEAL-1/a.txt", b"alpha", metadata={"source": "banker"})
        assert await store.get("DEAL-1/a.txt", verify=True) == b"alpha"
        assert [m.storage_key async for m in store.list("DEAL-1")] == ["DEAL-1/a.txt"]
        url = await store.get_url("DEAL-1/a.txt", expires_in=600)
        await store.copy("DEAL-1/a.txt", "DEAL-1/b.txt")
        assert await store.delete("DEAL-1/b.txt")
        # A line in a shape no pattern knows: only knowing the resolved values helps.
        logging.getLogger("botocore.credentials").debug(
            "resolved %s / %s / %s (%s)",
            *profile.secrets(),
            quote(profile.token, safe="-_.~"),
        )
    # The store did sign with the profile's temporary credentials...
    assert f"X-Amz-Credential={profile.key_id}" in url
    assert "X-Amz-Security-Token=" in url
    # ... and botocore logged the requests at DEBUG, signed headers included.
    messages = [r.getMessage() for r in caplog.records]
    assert any("Authorization" in m for m in messages)
    assert any("CanonicalRequest" in m for m in messages)
    leaks = [
        (record.name, secret[:8])
        for record in caplog.records
        for secret in profile.secrets()
        for form in forms(secret)
        if form in logged_text(record)
    ]
    assert not leaks, f"{len(leaks)} log records carry a credential: {leaks[:10]}"


async def test_signed_parts_are_scrubbed_whatever_the_credentials(
    moto_server: MotoServer, caplog: pytest.LogCaptureFixture
) -> None:
    """Authorization, the token header, Credential= and Signature= never reach a log line."""
    bucket = f"test-{uuid.uuid4().hex[:12]}"
    boto3_client(moto_server.endpoint).create_bucket(Bucket=bucket)
    caplog.set_level(logging.DEBUG)
    async with S3ArtifactStore(
        bucket,
        endpoint_url=moto_server.endpoint,
        **CREDENTIALS,
        aws_session_token="tkn1234",  # under 8 characters: not redacted as a literal
    ) as store:
        await store.put("DEAL-1/a.txt", b"alpha")
        await store.get("DEAL-1/a.txt")
        url = await store.get_url("DEAL-1/a.txt", expires_in=600)
    signature = re.search(r"X-Amz-Signature=([0-9a-f]{64})", url)
    assert signature is not None
    text = "\n".join(logged_text(r) for r in caplog.records)
    assert "Authorization" in text  # the lines are there, their values are not
    assert signature.group(1) not in text
    assert re.search(r"(?i)\b(?:credential|signature)=(?!\[redacted\])", text) is None
    assert re.search(r"(?i)authorization['\"]?\s*:\s*b?['\"]?AWS4", text) is None
    assert "X-Amz-Security-Token" in text
    assert "tkn1234" not in text  # header, canonical request and query parameter alike
    assert re.search(r"(?i)\bsignature:\s*[0-9a-f]{64}", text) is None


# ------------------------------------------------------------ item 7: metadata


def sent_size(metadata: dict[str, str]) -> int:
    """What S3 counts: names plus values, as they travel (values RFC 2047-encoded)."""
    return sum(len(k) + len(_metadata.encode_value(v).encode()) for k, v in metadata.items())


def at_budget(extra: int = 0) -> dict[str, str]:
    """Non-ASCII metadata whose size as sent is exactly the budget (plus ``extra``)."""
    note = "Soci\u00e9t\u00e9 G\u00e9n\u00e9rale \u2014 " * 40  # 1,000+ UTF-8 bytes
    metadata = {"note": note, "pad": ""}
    metadata["pad"] = "p" * (MAX_USER_METADATA_BYTES + extra - sent_size(metadata))
    assert sent_size(metadata) == MAX_USER_METADATA_BYTES + extra
    return metadata


def test_the_encoded_form_is_what_the_budget_counts() -> None:
    # A value at the 1,900-byte budget in UTF-8 is far over it once encoded.
    value = "\u00e9" * ((MAX_USER_METADATA_BYTES - 4) // 2)
    assert len("note") + len(value.encode()) <= MAX_USER_METADATA_BYTES
    assert sent_size({"note": value}) > 2048
    # The budget plus the store's own SHA-256 field fits S3's 2 KiB.
    assert MAX_USER_METADATA_BYTES + len(_metadata.SHA_FIELD) + 64 <= _metadata.S3_METADATA_LIMIT


@pytest.mark.parametrize("source", ["bytes", "stream"])
async def test_metadata_at_the_budget_as_sent_is_stored(
    moto_server: MotoServer, source: str
) -> None:
    bucket = f"test-{uuid.uuid4().hex[:12]}"
    client = boto3_client(moto_server.endpoint)
    client.create_bucket(Bucket=bucket)
    metadata = at_budget()
    async with S3ArtifactStore(bucket, endpoint_url=moto_server.endpoint, **CREDENTIALS) as store:
        data: Any = b"x" if source == "bytes" else _stream(b"x")
        meta = await store.put("DEAL-1/x.txt", data, metadata=metadata)
        assert dict(meta.metadata) == metadata
        assert dict((await store.get_metadata("DEAL-1/x.txt")).metadata) == metadata
    sent = client.head_object(Bucket=bucket, Key="DEAL-1/x.txt")["Metadata"]
    assert sent[_metadata.SHA_FIELD] == meta.sha256
    # What S3 received, the SHA-256 included, is within its 2 KiB.
    total = sum(len(k) + len(v.encode()) for k, v in sent.items())
    assert total == MAX_USER_METADATA_BYTES + len(_metadata.SHA_FIELD) + 64
    assert total <= 2048


async def _stream(data: bytes) -> Any:
    yield data


@pytest.mark.parametrize("source", ["bytes", "stream"])
@pytest.mark.parametrize("metadata", ["one byte over", "at the budget in UTF-8"])
async def test_metadata_over_the_budget_as_sent_is_refused_before_any_request(
    source: str, metadata: str
) -> None:
    if metadata == "one byte over":
        over = at_budget(extra=1)
    else:  # the case: 1,900 bytes of names and UTF-8 values, 2,628 as sent
        over = {"note": "\u00e9" * ((MAX_USER_METADATA_BYTES - 4) // 2)}
    assert sum(len(k) + len(v.encode()) for k, v in over.items()) <= MAX_USER_METADATA_BYTES
    # Nothing listens on this port: a request would be a StorageBackendError.
    store = S3ArtifactStore(
        "bucket",
        endpoint_url=f"http://127.0.0.1:{free_port()}",
        max_attempts=1,
        connect_timeout=2,
        **CREDENTIALS,
    )
    async with store:
        data: Any = b"x" if source == "bytes" else _stream(b"x")
        with pytest.raises(ValueError, match="as sent"):
            await store.put("DEAL-1/x.txt", data, metadata=over)


@pytest.mark.parametrize(
    ("raw", "decoded"),
    [
        (
            "=?utf-8?q?Soci=C3=A9t=C3=A9_G=C3=A9n=C3=A9rale?=",
            "Soci\u00e9t\u00e9 G\u00e9n\u00e9rale",
        ),
        ("=?utf-8?b?U29jacOpdMOpIEfDqW7DqXJhbGU=?=", "Soci\u00e9t\u00e9 G\u00e9n\u00e9rale"),
        (
            "=?UTF-8?B?U29jacOpdMOp?= =?UTF-8?B?IEfDqW7DqXJhbGU=?=",
            "Soci\u00e9t\u00e9 G\u00e9n\u00e9rale",
        ),
        ("=?iso-8859-1?q?caf=E9?=", "caf\u00e9"),
        ("plain ascii", "plain ascii"),
        ("=?utf-8?b?/w==?=", "=?utf-8?b?/w==?="),  # not UTF-8 inside: kept as it is
    ],
    ids=["Q", "lowercase-b", "two-words", "latin-1", "ascii", "broken"],
)
async def test_metadata_encoded_by_other_tools_is_decoded(
    moto_server: MotoServer, raw: str, decoded: str
) -> None:
    bucket = f"test-{uuid.uuid4().hex[:12]}"
    client = boto3_client(moto_server.endpoint)
    client.create_bucket(Bucket=bucket)
    client.put_object(Bucket=bucket, Key="DEAL-1/x.txt", Body=b"x", Metadata={"client": raw})
    async with S3ArtifactStore(bucket, endpoint_url=moto_server.endpoint, **CREDENTIALS) as store:
        meta = await store.get_metadata("DEAL-1/x.txt")
        assert meta.metadata["client"] == decoded
        # A copy carries the value decoded, encoded again in the store's own form.
        await store.copy("DEAL-1/x.txt", "DEAL-1/y.txt")
        assert (await store.get_metadata("DEAL-1/y.txt")).metadata["client"] == decoded


@pytest.mark.parametrize(
    "value",
    [
        "=?UTF-8?B?aGk=?=",
        "see =?utf-8?q?x?= here",
        "=?utf-8?q?a?=b",
        "a=?b",
        "Soci\u00e9t\u00e9",
        "  spaced \u00e9  ",
    ],
)
def test_every_value_survives_encoding(value: str) -> None:
    encoded = _metadata.encode_value(value)
    assert encoded.isascii()
    assert _metadata.decode_value(encoded) == value


@pytest.mark.parametrize(
    ("line", "secrets"),
    [
        (
            "Response body:\nb'<AssumeRoleResponse><Credentials>"
            "<AccessKeyId>ASIAKEYID</AccessKeyId>"
            "<SecretAccessKey>stsSECRET/+=</SecretAccessKey><SessionToken>stsTOKEN==</SessionToken>"
            "</Credentials></AssumeRoleResponse>'",
            ["ASIAKEYID", "stsSECRET", "stsTOKEN"],
        ),
        (
            'Response body:\nb\'{"roleCredentials":{"accessKeyId":"ASIASSO","secretAccessKey":'
            '"ssoSECRET","sessionToken":"ssoTOKEN","expiration":1}}\'',
            ["ASIASSO", "ssoSECRET", "ssoTOKEN"],
        ),
        ("{'x-amz-sso_bearer_token': 'BEARERTOKEN', 'Host': 'sso'}", ["BEARERTOKEN"]),
        ("Action=AssumeRoleWithWebIdentity&WebIdentityToken=eyJWEBID&Version=1", ["eyJWEBID"]),
    ],
)
def test_credentials_in_sts_and_sso_answers_are_scrubbed(line: str, secrets: list[str]) -> None:
    """Role and SSO credentials are logged (response bodies) before their values are known."""
    from artifactstore.backends.s3._redact import scrub

    cleaned = scrub(line)
    for secret in secrets:
        assert secret not in cleaned


@pytest.mark.parametrize("value", [" padded ", "trailing ", " leading", "plain"])
def test_values_http_would_trim_are_encoded(value: str) -> None:
    from artifactstore.backends.s3._metadata import decode_value, encode_value

    sent = encode_value(value)
    assert sent == sent.strip()  # nothing for HTTP to trim
    assert decode_value(sent) == value
