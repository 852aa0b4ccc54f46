"""The documentation site: ``mkdocs build --strict`` passes, and its API reference
renders every public name under the path users import it from.

The build runs as ``make docs`` does, into a temporary folder. ``--strict`` turns
every warning into a failure: a broken link or anchor between pages, a page left
out of the navigation, a ``:::`` reference to a name that does not exist, a
docstring griffe cannot parse.
"""

from __future__ import annotations

import importlib
import os
import shutil
import subprocess
import sys
import zlib
from dataclasses import dataclass
from pathlib import Path

import pytest

import artifactstore

ROOT = Path(__file__).resolve().parent.parent

# The public modules whose every name (``__all__``) the reference must render.
PUBLIC_MODULES = (
    "artifactstore.sync",
    "artifactstore.compat",
    "artifactstore.web",
    "artifactstore.web.aiohttp",
    "artifactstore.testing",
    "artifactstore.testing.moto_server",
    "artifactstore.errors",
    "artifactstore.keys",
    "artifactstore.layout",
    "artifactstore.metadata",
    "artifactstore.transfer",
)
# Modules that re-export another public module's names (``artifactstore.keys`` the
# layout's, where they were first defined): those are rendered once, where they
# are defined.
REEXPORTS = {"artifactstore.keys": "artifactstore.layout"}


@dataclass
class Build:
    returncode: int
    output: str
    site: Path


def build(config: Path, site: Path) -> Build:
    command = [sys.executable, "-m", "mkdocs", "build", "--strict"]
    result = subprocess.run(
        [*command, "-f", str(config), "--site-dir", str(site)],
        cwd=config.parent,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    return Build(result.returncode, result.stdout + result.stderr, site)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Build:
    return build(ROOT / "mkdocs.yml", tmp_path_factory.mktemp("docs") / "site")


def inventory(site: Path) -> dict[str, int]:
    """The identifiers of ``objects.inv``, with their priority (1: rendered there)."""
    data = (site / "objects.inv").read_bytes()
    header, _, compressed = data.partition(b"zlib.\n")
    assert header.startswith(b"# Sphinx inventory version 2")
    found: dict[str, int] = {}
    for line in zlib.decompress(compressed).decode().splitlines():
        name, _role, priority, _rest = line.split(" ", 3)
        found[name] = min(int(priority), found.get(name, 2))
    return found


def public_identifiers() -> set[str]:
    """``artifactstore.X`` for every name of ``artifactstore``; ``module.X`` for the
    other public modules' names, unless ``artifactstore`` exports the same object
    (a re-export, ``REEXPORTS``, is left to the module that defines it)."""
    identifiers = {f"artifactstore.{name}" for name in artifactstore.__all__}
    for module_name in PUBLIC_MODULES:
        module = importlib.import_module(module_name)
        for name in module.__all__:
            if name.startswith("_"):
                continue  # compat's legacy _dataroom_root
            value = getattr(module, name)
            home = REEXPORTS.get(module_name)
            if home is not None and getattr(importlib.import_module(home), name, None) is value:
                continue  # listed with the module that defines it
            if name in artifactstore.__all__ and getattr(artifactstore, name) is value:
                identifiers.add(f"artifactstore.{name}")
            else:
                identifiers.add(f"{module_name}.{name}")
    return identifiers


def test_the_site_builds_with_strict(site: Build) -> None:
    assert site.returncode == 0, site.output
    assert "WARNING" not in site.output, site.output
    for page in ("index.html", "getting-started.html", "testing.html", "reference/stores.html"):
        assert (site.site / page).is_file(), page


def test_the_reference_renders_every_public_name(site: Build) -> None:
    assert site.returncode == 0, site.output
    rendered = {name for name, priority in inventory(site.site).items() if priority == 1}
    missing = sorted(public_identifiers() - rendered)
    assert not missing, f"not in the API reference (docs/reference/*.md): {missing}"


def test_reference_entries_keep_their_docstrings(site: Build) -> None:
    # The reST the docstrings use reads as Markdown: roles become links to the
    # reference, #: comments become attribute docs (docs/griffe_sphinx.py).
    transfer = (site.site / "reference" / "transfer.html").read_text()
    assert ":func:" not in transfer
    assert 'href="#artifactstore.copy_artifacts"><code>copy_artifacts</code></a>' in transfer
    # copy_artifacts' :param fields are a parameter table, not text.
    assert ":param" not in transfer
    assert "artifacts in flight at once" in transfer
    keys = (site.site / "reference" / "keys.html").read_text()
    assert "Longest key accepted, in characters" in keys  # a #: comment
    errors = (site.site / "reference" / "errors.html").read_text()
    assert "<p>::</p>" not in errors  # the reST marker of the error tree's literal block
    assert "├── ArtifactNotFoundError" in errors


def test_a_broken_anchor_fails_the_build(tmp_path: Path) -> None:
    # The same configuration on a copy of the sources, with one link to a heading
    # that does not exist: --strict must refuse it.
    ignore = shutil.ignore_patterns("__pycache__")
    for folder in ("docs", "examples", "artifactstore"):
        shutil.copytree(ROOT / folder, tmp_path / folder, ignore=ignore)
    shutil.copy(ROOT / "mkdocs.yml", tmp_path / "mkdocs.yml")
    page = tmp_path / "docs" / "keys.md"
    page.write_text(page.read_text() + "\nSee [the errors](errors.md#no-such-heading).\n")
    broken = build(tmp_path / "mkdocs.yml", tmp_path / "site")
    assert broken.returncode != 0
    assert "no-such-heading" in broken.output
