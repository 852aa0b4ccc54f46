"""S3 section: artifactstore's ``S3ArtifactStore`` against its peers, on one moto server.

One moto server (``python -m moto.server``, plain HTTP) runs in a process of its
own on a free loopback port for the first three scenarios, and a second one, with
TLS, for the last:

1. Small objects (``bench/s3_small.py``): 4 KiB puts/s then gets/s, artifactstore
   against raw aioboto3 and s3fs.
2. Large puts (``bench/s3_large.py``): 256 MiB, each upload in a subprocess of its
   own (MB/s and peak RSS growth): artifactstore from a ``Path`` and from an async
   iterable (with ``sha256_record="tag"`` and ``"copy"`` when the store has that
   option), obstore (also with the file's SHA-256 computed beside its put, on a
   thread: what artifactstore's put gives), raw aioboto3 and s3fs; and how many
   requests ``get_metadata`` makes for a streamed put's object.
3. Foreign objects (``bench/s3_foreign.py``): a 16 MiB object written with plain
   boto3, read through artifactstore (three ``get_metadata`` and a 10-byte
   ``stream``): requests and full downloads.
4. Large puts over TLS (``bench/s3_large.py`` again): once the first server has
   stopped, a second moto server that speaks only HTTPS, with a self-signed
   certificate every contender is given to trust, takes the same 256 MiB puts
   (not ``sha256_record="copy"``): the way AWS is reached, where artifactstore
   sends its bodies unsigned.
5. Client cost (``bench/s3_sink.py``): the CPU time of one 256 MiB put of
   artifactstore and of obstore against a loopback server that discards the
   bytes, over HTTP and TLS: the client's own work, without moto's.

Run as part of ``python -m bench`` (section ``s3``); ``python -m bench.s3_large
--child ...`` is the entry point of the large puts' subprocesses.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

from ._harness import RATE_HEADERS, rate_rows, ratio, runs_text, same_rep, verdict
from ._util import (
    Check,
    MiB,
    Options,
    Report,
    Table,
    fmt_rate,
    fmt_ratio,
    process_rss_mib,
    scratch_dir,
    version,
)
from .s3_common import (
    SHA_FIELD,
    Buckets,
    Sizes,
    TlsMotoServer,
    fmt_calls,
    sha256_record_supported,
    source_tree,
)
from .s3_foreign import foreign_objects
from .s3_large import (
    AIOBOTO3,
    OBSTORE,
    OBSTORE_HASHED,
    PATH,
    S3FS,
    STREAM,
    STREAM_COPY,
    Kind,
    available_kinds,
)
from .s3_large import large_puts as run_large_puts
from .s3_sink import client_costs, cost_table
from .s3_small import ArtifactStoreS3, RawAioboto3, S3fs, contenders, small_objects

#: ``Buckets`` and ``source_tree`` are used by the transfer section too.
__all__ = ["TITLE", "Buckets", "run", "source_tree"]

TITLE = "artifactstore benchmark: S3 (moto server on loopback)"

#: Targets the library must meet.
TARGET_SMALL_VS_AIOBOTO3 = 0.95
TARGET_SMALL_VS_S3FS = 1.0
TARGET_PATH_VS_OBSTORE = 1.0
TARGET_STREAM_VS_OBSTORE = 0.9
TARGET_FOREIGN_FULL_DOWNLOADS = 1


def _small_tables(report: Report, sizes: Sizes, small: dict[str, Any]) -> None:
    ours = ArtifactStoreS3.name
    kinds = [kind for kind in contenders() if kind.name in small]
    peers = [kind.name for kind in kinds if kind.name != ours]
    targets = {RawAioboto3.name: TARGET_SMALL_VS_AIOBOTO3, S3fs.name: TARGET_SMALL_VS_S3FS}
    report.checks += [
        Check(
            f"small {op}: artifactstore / {peer}",
            ratio(small, ours, peer, f"{op}_per_s"),
            targets[peer],
        )
        for peer in peers
        for op in ("puts", "gets")
    ]
    report.tables.append(
        Table(
            f"Small objects: {sizes.small_count} x {sizes.small_size // 1024} KiB, "
            f"{sizes.concurrency} in flight",
            RATE_HEADERS,
            rate_rows(small, kinds),
            note=f"Median of {sizes.small_reps} runs, contenders interleaved in a rotating "
            "order; each run uses a fresh bucket and a fresh client, created untimed.",
        )
    )
    report.tables.append(
        Table(
            "Small-object ratios (artifactstore / peer)",
            ["ratio", "measured", "required", "result", "same-repetition ratios"],
            [
                [
                    f"{op} vs {peer}",
                    fmt_ratio(ratio(small, ours, peer, f"{op}_per_s")),
                    f">= {targets[peer]:g}x",
                    verdict(ratio(small, ours, peer, f"{op}_per_s"), targets[peer]),
                    same_rep(small, ours, peer, f"{op}_per_s"),
                ]
                for peer in peers
                for op in ("puts", "gets")
            ],
            note="measured: ratio of the medians (what the targets are checked on); "
            "same-repetition ratios: the two contenders' runs of each repetition, "
            "which show how noisy a single comparison is.",
        )
    )


def _payloads(res: dict[str, Any], name: str) -> str:
    """How the contender's bodies went (x-amz-content-sha256 of its UploadParts/PutObjects)."""
    if res.get("payloads") is None:
        if name in (OBSTORE.name, OBSTORE_HASHED.name):
            return "signed (obstore's default; not observed)"
        return "?"
    return " + ".join(f"{kind} x {n}" for kind, n in sorted(res["payloads"].items())) or "none"


def _large_tables(
    report: Report, sizes: Sizes, large: dict[str, Any], reps: int, tls: bool = False
) -> None:
    mib = sizes.large_size // MiB
    over = " over TLS" if tls else ""
    has_obstore = OBSTORE.name in large
    for kind, target in ((PATH, TARGET_PATH_VS_OBSTORE), (STREAM, TARGET_STREAM_VS_OBSTORE)):
        if has_obstore and kind.name in large:
            report.checks.append(
                Check(
                    f"{mib} MiB {kind.label} / obstore put_async{over}, MB/s",
                    ratio(large, kind.name, OBSTORE.name, "mb_per_s"),
                    target,
                )
            )
    for kind in (PATH, STREAM, STREAM_COPY):
        if kind.name in large and not tls:
            report.checks.append(
                Check(
                    f"{mib} MiB {kind.label}: peak RSS increase",
                    large[kind.name]["max_peak_rss_increase_mib"],
                    sizes.rss_target_mib,
                    unit=" MiB",
                    at_most=True,
                )
            )

    rows = []
    for name, res in large.items():
        versus = "-"
        if has_obstore and name != OBSTORE.name:
            versus = fmt_ratio(ratio(large, name, OBSTORE.name, "mb_per_s"))
        rows.append(
            [
                res["label"],
                fmt_rate(res["median_mb_per_s"]),
                versus,
                f"{res['median_cpu_seconds']:.2f}",
                f"{res['max_peak_rss_increase_mib']:.1f}",
                f"{res['median_peak_rss_increase_mib']:.1f}",
                f"{res['max_maxrss_growth_mib']:.1f}",
                runs_text(res["mb_per_s"], 1),
                runs_text(res["peak_rss_increase_mib"], 1),
                " / ".join(str(n) for n in res["parts"]),
                _payloads(res, name),
            ]
        )
    if tls:
        title = (
            f"Large puts over TLS: {mib} MiB, part size {sizes.part_size // MiB} MiB, "
            f"{sizes.parts_in_flight} parts in flight, against a second moto server that "
            "speaks only HTTPS (self-signed certificate, trusted by every contender)"
        )
    else:
        title = (
            f"Large puts: {mib} MiB, part size {sizes.part_size // MiB} MiB, "
            f"{sizes.parts_in_flight} parts in flight (RSS target for artifactstore's puts "
            f"<= {sizes.rss_target_mib:g} MiB)"
        )
    note = (
        f"{reps} uploads of each contender, interleaved in a rotating "
        "order, each in a fresh subprocess (the moto server's memory is not counted); "
        "MB/s is the median. client CPU s: the median CPU time (user + system, every "
        "thread) the client process spent in the upload; moto shares the same 2 cores, "
        "so a client's CPU is taken from the server's. Peak RSS: psutil samples every "
        "5 ms minus RSS just before the upload; the target is checked on the worst "
        "run. VmHWM: growth of the process's peak RSS over the upload (reset just "
        "before it). Before the upload, "
        "untimed, each contender creates its client and puts 1 MiB; after it, untimed, "
        "the object's size is checked with boto3 (every contender) and artifactstore's "
        "put() and get_metadata() sha256 against hashlib's, then the object is deleted. "
        "parts: the part count the stored object's ETag shows (md5-N; 1 for an object "
        "rewritten by a server-side copy). bodies: the x-amz-content-sha256 of the "
        "UploadPart requests of all runs, seen by a botocore before-send hook in the child "
        "(signed: a SHA-256 of the body; UNSIGNED-PAYLOAD: none)."
    )
    if tls:
        note += (
            ' Same scheme as the HTTP table, without the sha256_record="copy" put; '
            "the RSS target is checked over HTTP only (figures here for information). "
            "Every request the botocore-based contenders sent was https (the same hook; "
            "checked after each run), and obstore's endpoint is https."
        )
    report.tables.append(
        Table(
            title,
            [
                "contender",
                "MB/s",
                "/ obstore",
                "client CPU s",
                "peak RSS +MiB (worst)",
                "peak RSS +MiB (median)",
                "VmHWM +MiB (worst)",
                "MB/s runs",
                "peak RSS +MiB runs",
                "parts",
                "bodies",
            ],
            rows,
            note=note,
        )
    )

    ratio_rows: list[list[str]] = []

    def ratio_row(a: str, b: str, what: str, target: float | None) -> None:
        if a not in large or b not in large:
            return
        value = ratio(large, a, b, "mb_per_s")
        ratio_rows.append(
            [
                what,
                fmt_ratio(value),
                "-" if target is None else f">= {target:g}x",
                "info" if target is None else verdict(value, target),
                same_rep(large, a, b, "mb_per_s"),
            ]
        )

    ratio_row(PATH.name, OBSTORE.name, f"put(Path) vs obstore{over}", TARGET_PATH_VS_OBSTORE)
    ratio_row(
        STREAM.name,
        OBSTORE.name,
        f"put(async iterable) vs obstore{over}",
        TARGET_STREAM_VS_OBSTORE,
    )
    ratio_row(
        PATH.name, OBSTORE_HASHED.name, f"put(Path) vs obstore + SHA-256 of the file{over}", None
    )
    ratio_row(PATH.name, AIOBOTO3.name, f"put(Path) vs raw aioboto3{over}", None)
    ratio_row(PATH.name, S3FS.name, f"put(Path) vs s3fs{over}", None)
    ratio_row(STREAM.name, AIOBOTO3.name, f"put(async iterable) vs raw aioboto3{over}", None)
    ratio_row(STREAM_COPY.name, STREAM.name, 'put(async iterable): "copy" / "tag"', None)
    report.tables.append(
        Table(
            f"Large-put ratios{over} (MB/s, artifactstore / peer)",
            ["ratio", "measured", "required", "result", "same-repetition ratios"],
            ratio_rows,
            note="measured: ratio of the medians (what the targets are checked on); "
            "same-repetition ratios: the two contenders' uploads of each repetition.",
        )
    )


def _record_table(report: Report, sizes: Sizes, large: dict[str, Any], record: bool) -> None:
    def seen(name: str, field: str) -> str:
        values = {fmt_calls(one.get(field, {})) for one in large[name]["runs"]}
        return " / ".join(sorted(values))  # one value unless runs differed

    rows = []
    expected = {
        STREAM.name: ("HeadObject + GetObjectTagging", "HeadObject"),
        STREAM_COPY.name: ("HeadObject", "HeadObject"),
        PATH.name: ("HeadObject (+ GetObjectTagging if hashed while uploading)", "HeadObject"),
    }
    labels = {
        STREAM.name: 'async iterable, "tag" (default)' if record else "async iterable",
        STREAM_COPY.name: 'async iterable, "copy"',
        PATH.name: "Path, for information",
    }
    for name in (STREAM.name, STREAM_COPY.name, PATH.name):
        if name not in large:
            continue
        versus = "-"
        if name == STREAM_COPY.name:
            versus = fmt_ratio(ratio(large, name, STREAM.name, "mb_per_s"))
        fresh_expected, writer_expected = expected[name]
        rows.append(
            [
                labels[name],
                fmt_rate(large[name]["median_mb_per_s"]),
                versus,
                seen(name, "get_metadata_fresh"),
                fresh_expected if record else "-",
                seen(name, "get_metadata_writer"),
                writer_expected if record else "-",
            ]
        )
    report.tables.append(
        Table(
            f"Recording the SHA-256 of a streamed {sizes.large_size // MiB} MiB multipart put "
            '(sha256_record: "tag" = PutObjectTagging after completion, "copy" = '
            "CopyObject of the object onto itself)",
            [
                "put",
                "MB/s",
                "/ tag",
                "get_metadata requests, fresh store",
                "expected",
                "get_metadata requests, writing store",
                "expected",
            ],
            rows,
            note="MB/s: the large puts above (same runs). Requests: S3 operations the "
            "store's client sent for one get_metadata of the object just written (botocore "
            "before-call hook), from the store that wrote it and from a fresh store whose "
            "client was created first (its HeadBucket not counted); runs that differed are "
            "separated by '/'.",
        )
    )


def _foreign_table(report: Report, foreign: dict[str, Any]) -> None:
    totals = foreign["totals"]
    report.checks.append(
        Check(
            f"foreign {foreign['size'] // MiB} MiB object: full downloads in 3 get_metadata "
            "+ a 10-byte stream",
            totals["full_downloads"],
            TARGET_FOREIGN_FULL_DOWNLOADS,
            unit="",
            at_most=True,
        )
    )

    def method_text(counts: dict[str, int]) -> str:
        return ", ".join(f"{n} {name}" for name, n in sorted(counts.items())) or "none"

    rows = [
        [
            step["step"],
            str(len(step["requests"])),
            method_text(step["by_method"]),
            fmt_calls(step["operations"]),
            str(step["full_downloads"]),
            f"{step['bytes_down'] / MiB:,.2f}",
            f"{step['seconds'] * 1000:,.0f}",
        ]
        for step in foreign["steps"]
    ]
    rows.insert(
        4,
        [
            "total of the four steps above (the goal)",
            str(totals["requests"]),
            method_text(totals["by_method"]),
            f"{totals['operations_seen_by_hook']} operations",
            str(totals["full_downloads"]),
            f"{totals['bytes_down'] / MiB:,.2f}",
            "-",
        ],
    )
    report.tables.append(
        Table(
            f"Foreign object: {foreign['size'] // MiB} MiB written with plain boto3 (no "
            "recorded SHA-256), read through artifactstore",
            [
                "step",
                "requests at moto",
                "by method (proxy)",
                "operations (botocore hook)",
                "full downloads",
                "MiB to the client",
                "ms",
            ],
            rows,
            note="Requests at moto and by method: request lines that tests.faultproxy."
            "FaultProxy passed to moto (retries included). Operations and full downloads: "
            "a botocore before-call hook on the store's client; a full download is a "
            "GetObject without a Range header. MiB to the client: bytes a second loopback "
            "proxy relayed from moto to the store, headers included. One store does the "
            "three get_metadata and the stream (its client and HeadBucket created first, "
            "not counted); the last row is a second fresh store, for information. Every "
            "get_metadata's sha256 is checked against hashlib's and the stream's 10 bytes "
            "against the object's.",
        )
    )


def _tls_notes(sizes: Sizes, tls: dict[str, Any]) -> list[str]:
    probes = "; ".join(f"{how}: {answer}" for how, answer in tls.get("probe", {}).items())
    return [
        "Large puts over TLS: a second moto server (python -m moto.server --ssl-cert "
        "--ssl-key, werkzeug's TLS) with a self-signed certificate (EC P-256, "
        "subjectAltName 127.0.0.1 and localhost, generated with cryptography into the "
        "section's scratch dir), started after the first server stopped; endpoint "
        f"{tls.get('endpoint', '?')}. Each contender trusts that certificate the standard "
        "way and is otherwise configured as over HTTP: artifactstore and raw aioboto3 "
        "through AWS_CA_BUNDLE=<certificate> in the child's environment (botocore reads it; "
        "S3ArtifactStore has no verify option), s3fs through client_kwargs={'verify': "
        "<certificate>} (and the same environment), obstore through client_options="
        "{'root_certificate': <PEM>} instead of {'allow_http': True}.",
        "Over TLS artifactstore sends its bodies as UNSIGNED-PAYLOAD (its signs_payloads is "
        "false for an https endpoint: TLS protects them in transit, the recorded SHA-256 "
        "end to end), so it makes one SHA-256 pass over each byte (the artifact's), not "
        "two. The peers keep their defaults: obstore signs every part (the S3 store's "
        "unsigned_payload defaults to false; not observed here, its requests are not "
        "hooked), and raw aioboto3 and s3fs sign theirs too (botocore signs a body over "
        "https unless it carries a checksum header, which request_checksum_calculation="
        "when_required does not add): see the bodies column.",
        f"Checked before the TLS uploads: {probes}.",
        f"moto TLS server RSS at the end: {tls.get('rss_mib') or '?'} MiB.",
        f"Large puts over TLS: {sizes.large_tls_reps} uploads of each contender "
        f"({sizes.large_reps} over HTTP).",
    ]


def _notes(
    sizes: Sizes,
    versions: dict[str, str],
    server: dict[str, Any],
    tree: str,
    skipped: list[str],
    record: bool,
    tls: dict[str, Any],
) -> list[str]:
    part = f"{sizes.part_size // MiB} MiB"
    n = sizes.parts_in_flight
    notes = [
        "moto is a Python server (werkzeug, threaded) and shares this machine's "
        f"{os.cpu_count()} CPUs with the client, so absolute S3 figures measure moto more "
        "than any network or real S3; the ratios of contenders run side by side against "
        "the same server are the point.",
        "Versions: " + ", ".join(f"{k} {v}" for k, v in versions.items()) + ".",
        "Small objects: all contenders use path-style addressing, "
        "request_checksum_calculation and response_checksum_validation = when_required "
        "(artifactstore's settings) and max_pool_connections=64; all three compute "
        f"hashlib.sha256 of each payload on put and store it as x-amz-meta-{SHA_FIELD} "
        f"(checked after each run); {sizes.concurrency} worker coroutines pulling indices "
        "from a shared iterator drive every contender.",
        f"artifactstore: S3ArtifactStore(part_size={part}, parts_in_flight={n}, "
        f"multipart_threshold={part}, max_pool_connections=64); its get() is one GetObject "
        "(the SHA-256 comes from the response's metadata) read through its stream().",
        "s3fs small gets: _cat_file(path) as s3fs does it by default (max_concurrency=10): "
        "a HeadObject to learn the size and then the GetObject, so two requests per get "
        "against one for the others.",
        f"Large puts, the same part size and parts in flight everywhere: obstore "
        f"put_async(store, key, Path, chunk_size={part}, max_concurrency={n}) (its defaults "
        "are 5 MiB and 12) on S3Store(bucket, endpoint=..., access_key_id=..., "
        "secret_access_key=..., region='us-east-1', virtual_hosted_style_request=False, "
        "client_options={'allow_http': True}), everything else left at obstore's defaults "
        "(no checksum_algorithm); raw aioboto3 upload_fileobj(open file, Config="
        f"TransferConfig(multipart_threshold={part}, multipart_chunksize={part}, "
        f"max_concurrency={n})) with the botocore Config above (its max_io_queue_size "
        f"stays at 100: it reads ahead of the uploads); s3fs _put_file(chunksize={part}, "
        f"max_concurrency={n}), which reads {n} parts, uploads them together and waits for "
        "all before reading on.",
        "Large puts: the peers only upload; artifactstore also computes the SHA-256 "
        "(inside the timed put) and records it. The async iterable yields the file's "
        f"1 MiB block from memory, {sizes.large_size // sizes.large_chunk} times (the same "
        "bytes as the file); the others read the file on tmpfs. put(Path) and the "
        "first put(async iterable) row run with sha256_record left at its default "
        '(named explicitly as "tag" for the latter when the option exists).',
        "moto answers every request with 'Connection: close', so each request of every "
        "contender opens a new TCP connection: connection reuse is not measured here.",
        f"moto server RSS at the end: {server.get('rss_mib') or '?'} MiB.",
        *_tls_notes(sizes, tls),
        f"artifactstore source: {tree}.",
        "MB/s means 10^6 bytes per second.",
    ]
    if not record:
        notes.insert(
            7,
            "A streamed put (async iterable) cannot know the SHA-256 before S3 fixes the "
            "object's metadata; this source records it afterwards its own way (a "
            "server-side CopyObject of the object onto itself, before sha256_record), "
            "inside the timed put.",
        )
    return notes + skipped


def _report(
    sizes: Sizes,
    small: dict[str, Any],
    large: dict[str, Any],
    large_tls: dict[str, Any],
    foreign: dict[str, Any],
    versions: dict[str, str],
    server: dict[str, Any],
    tls: dict[str, Any],
    tree: str,
    skipped: list[str],
    record: bool,
    costs: dict[str, Any],
) -> Report:
    report = Report(
        section="s3",
        title=TITLE,
        config={
            "small_objects": sizes.small_count,
            "small_size": f"{sizes.small_size // 1024} KiB",
            "in_flight": sizes.concurrency,
            "small_reps": sizes.small_reps,
            "large_size": f"{sizes.large_size // MiB} MiB",
            "large_chunk": f"{sizes.large_chunk // MiB} MiB",
            "part_size": f"{sizes.part_size // MiB} MiB",
            "parts_in_flight": sizes.parts_in_flight,
            "large_reps": sizes.large_reps,
            "large_tls_reps": sizes.large_tls_reps,
            "foreign_size": f"{sizes.foreign_size // MiB} MiB",
            "statistic": "median",
        },
        data={
            "sizes": sizes.__dict__,
            "versions": versions,
            "server": server,
            "tls_server": tls,
            "source": tree,
            "sha256_record_option": record,
            "small": small,
            "large": large,
            "large_tls": large_tls,
            "foreign": foreign,
            "client_cost": costs,
        },
    )
    _small_tables(report, sizes, small)
    _large_tables(report, sizes, large, sizes.large_reps)
    _large_tables(report, sizes, large_tls, sizes.large_tls_reps, tls=True)
    _record_table(report, sizes, large, record)
    _foreign_table(report, foreign)
    if costs:
        cost_table(report, sizes, costs)
    report.notes = _notes(sizes, versions, server, tree, skipped, record, tls)
    return report


def run(options: Options) -> Report:
    """Run the whole section (the interface every section of ``python -m bench`` has)."""
    from tests.s3server import MotoServer

    sizes = Sizes.for_options(options)
    names = ("aioboto3", "aiobotocore", "botocore", "aiohttp", "obstore", "s3fs", "fsspec", "moto")
    versions = {name: version(name) for name in names}
    record = sha256_record_supported()
    kinds, skipped = available_kinds(record)
    if not any(kind.name == S3FS.name for kind in kinds):
        skipped.append("s3fs is not installed: its small-object contender was skipped too.")
    tree = source_tree()  # the children import artifactstore anew: note any change
    print("s3: starting the moto server ...", flush=True)
    server = MotoServer.start()
    server_info: dict[str, Any] = {"endpoint": server.endpoint}
    try:
        print(f"s3: small objects against {server.endpoint} ...", flush=True)
        small = asyncio.run(small_objects(server.endpoint, sizes))
        print(f"s3: large puts ({', '.join(kind.name for kind in kinds)}) ...", flush=True)
        with scratch_dir("artifactstore-bench-s3-") as workdir:
            large = run_large_puts(server.endpoint, sizes, workdir, kinds, sizes.large_reps)
        print("s3: a foreign object ...", flush=True)
        foreign = foreign_objects(server.endpoint, server.port, sizes)
        server_info["rss_mib"] = process_rss_mib(server.process.pid)
    finally:
        server.stop()
    large_tls, tls_info = _large_puts_over_tls(sizes, kinds)
    costs: dict[str, Any] = {}
    if any(kind.name == OBSTORE.name for kind in kinds):
        print("s3: the client's cost, against a server that discards ...", flush=True)
        with scratch_dir("artifactstore-bench-s3-sink-") as workdir:
            costs = client_costs(sizes, workdir, sizes.large_reps)
    else:
        skipped.append("obstore is not installed: the client-cost comparison was skipped.")
    tree_after = source_tree()
    if tree_after != tree:
        tree = f"{tree} at the start, {tree_after} at the end (it changed during the run)"
    return _report(
        sizes,
        small,
        large,
        large_tls,
        foreign,
        versions,
        server_info,
        tls_info,
        tree,
        skipped,
        record,
        costs,
    )


def _large_puts_over_tls(sizes: Sizes, kinds: list[Kind]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The large puts again (not sha256_record="copy"), against a moto server with TLS."""
    tls_kinds = [kind for kind in kinds if kind is not STREAM_COPY]
    with scratch_dir("artifactstore-bench-s3-tls-") as workdir:
        print("s3: starting a moto server with TLS ...", flush=True)
        server = TlsMotoServer.start(workdir)
        info: dict[str, Any] = {"endpoint": server.endpoint}
        try:
            info["probe"] = probe = server.probe()
            if probe["plain http"] == "ok" or probe["https, default trust store"] == "ok":
                raise AssertionError(f"the TLS server is not what it should be: {probe}")
            print(f"s3: large puts over TLS against {server.endpoint} ...", flush=True)
            large = run_large_puts(
                server.endpoint,
                sizes,
                workdir,
                tls_kinds,
                sizes.large_tls_reps,
                ca_bundle=server.ca_bundle,
            )
            info["rss_mib"] = process_rss_mib(server.process.pid)
        finally:
            server.stop()
    return large, info
