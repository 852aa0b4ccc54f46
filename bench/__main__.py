"""``python -m bench [SECTION ...]``: run benchmark sections, print and save their reports.

Each section is a module with ``TITLE`` and ``run(options: Options) -> Report``
(see ``bench/local.py``). Its report is printed and written to
``bench/results/<section>.md`` and ``bench/results/<section>.json``.

To add a section, write ``bench/<name>.py`` with that interface and list it in
``SECTIONS``; modules are imported only when their section runs, so a section's
optional dependencies are needed only to run that section.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
from pathlib import Path

from ._util import Options, Report, machine_info, render_markdown, report_json

#: Section name -> module, in the order ``python -m bench`` runs them.
SECTIONS: dict[str, str] = {
    "local": "bench.local",
    "local-lanes": "bench.local_lanes",
    "layers": "bench.layers",
    "otel": "bench.otel",
    "audit": "bench.audit",
    "holds": "bench.holds",
    "s3": "bench.s3",
    "sync": "bench.sync",
    "transfer": "bench.transfer",
}

RESULTS_DIR = Path(__file__).resolve().parent / "results"


def _write_atomically(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def save(report: Report, markdown: str, data: dict[str, object], results_dir: Path) -> list[Path]:
    """Write ``<section>.md`` and ``<section>.json``; return their paths."""
    results_dir.mkdir(parents=True, exist_ok=True)
    md_path = results_dir / f"{report.section}.md"
    json_path = results_dir / f"{report.section}.json"
    _write_atomically(md_path, markdown)
    _write_atomically(json_path, json.dumps(data, indent=2) + "\n")
    return [md_path, json_path]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument(
        "sections",
        nargs="*",
        metavar="SECTION",
        help=f"sections to run (default: all): {', '.join(SECTIONS)}",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="smaller sizes, for a smoke test; prints the report but writes no results",
    )
    parser.add_argument(
        "--check", action="store_true", help="exit with status 1 if any target is missed"
    )
    parser.add_argument(
        "--results-dir", type=Path, default=RESULTS_DIR, help=f"default: {RESULTS_DIR}"
    )
    args = parser.parse_args(argv)
    unknown = [name for name in args.sections if name not in SECTIONS]
    if unknown:
        parser.error(f"unknown section(s) {', '.join(unknown)}; choose from {', '.join(SECTIONS)}")
    chosen = args.sections or list(SECTIONS)

    options = Options(quick=args.quick)
    machine = machine_info()
    all_passed = True
    for name in chosen:
        module = importlib.import_module(SECTIONS[name])
        report: Report = module.run(options)
        markdown = render_markdown(report, machine)
        print()
        print(markdown, flush=True)
        if args.quick:
            print(f"(--quick: {name} results not written)")
        else:
            data = report_json(report, machine)
            for path in save(report, markdown, data, args.results_dir):
                print(f"wrote {path}")
        all_passed = all_passed and report.passed
    return 1 if args.check and not all_passed else 0


if __name__ == "__main__":
    sys.exit(main())
