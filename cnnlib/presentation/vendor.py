"""The decks' and pages' JavaScript, CSS and fonts, from the npm registry, served from ``build/``.

nbconvert's templates load reveal.js, MathJax, require.js and mermaid from CDNs; a course that is
read offline (a classroom, a train) cannot. The build fetches the two packages it needs once,
checks each tarball against the integrity hash the registry published for it, keeps it in the
data cache (``data/cache/vendor/``) and unpacks the files the pages use into ``build/vendor/``.
"""

from __future__ import annotations

import base64
import hashlib
import shutil
import tarfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from ..data.sources import data_dir

__all__ = ["PACKAGES", "VendorError", "fetch", "install"]

REGISTRY = "https://registry.npmjs.org"


@dataclass(frozen=True)
class Package:
    name: str
    version: str
    integrity: str  # "sha512-<base64>", as the registry's metadata gives it
    keep: tuple[str, ...]  # path prefixes inside the tarball's package/ folder that the pages use
    licence: str

    @property
    def url(self) -> str:
        return f"{REGISTRY}/{self.name}/-/{self.name.split('/')[-1]}-{self.version}.tgz"

    @property
    def folder(self) -> str:
        return f"{self.name}-{self.version}"


PACKAGES = {
    "reveal.js": Package(
        "reveal.js",
        "5.2.1",
        "sha512-r7//6mIM5p34hFiDMvYfXgyjXqGRta+/psd9YtytsgRlrpRzFv4RbH76TXd2qD+7ZPZEbpBDhdRhJaFgfQ7zNQ==",
        ("dist/reveal.js", "dist/reveal.css", "dist/theme/white.css", "dist/theme/fonts/", "plugin/notes/", "LICENSE"),
        "MIT",
    ),
    "mathjax": Package(
        "mathjax",
        "2.7.9",
        "sha512-NOGEDTIM9+MrsqnjPEjVGNx4q0GQxqm61yQwSK+/5S59i26wId5IC5gNu9/bu8+CCVl5p9G2IHcAl/wJa+5+BQ==",
        (
            "MathJax.js",
            "config/TeX-AMS_CHTML-full.js",
            "config/Safe.js",
            "extensions/",
            "jax/input/TeX/",
            "jax/output/CommonHTML/",
            "jax/element/mml/",
            "fonts/HTML-CSS/TeX/woff/",
            "LICENSE",
        ),
        "Apache-2.0",
    ),
}


class VendorError(RuntimeError):
    pass


def _check(package: Package, payload: bytes) -> None:
    algo, _, expected = package.integrity.partition("-")
    got = base64.b64encode(hashlib.new(algo, payload).digest()).decode()
    if got != expected:
        raise VendorError(
            f"{package.name} {package.version}: the tarball's {algo} is {got}, not the registry's {expected}. "
            f"Delete {_cache() / Path(package.url).name} and build again."
        )


def _cache() -> Path:
    return data_dir() / "cache" / "vendor"


def fetch(package: Package) -> Path:
    """The package's tarball, from the cache or the npm registry, checked against its integrity hash."""
    path = _cache() / Path(package.url).name
    if path.exists():
        _check(package, path.read_bytes())
        return path
    try:
        with urllib.request.urlopen(package.url, timeout=60) as response:
            payload = response.read()
    except OSError as exc:
        raise VendorError(
            f"Could not download {package.url} ({exc}). The build needs {package.name} {package.version} once, "
            f"from the npm registry; with no network, copy that file into {_cache()}/ and build again."
        ) from None
    _check(package, payload)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.with_suffix(".part").write_bytes(payload)
    path.with_suffix(".part").replace(path)
    return path


def install(dest: Path) -> dict[str, str]:
    """Unpack every package's kept files into ``dest/<name>-<version>/``; returns name -> that folder's name."""
    folders = {}
    for package in PACKAGES.values():
        target = dest / package.folder
        stamp = target / ".integrity"
        if not (stamp.exists() and stamp.read_text() == package.integrity):
            shutil.rmtree(target, ignore_errors=True)
            with tarfile.open(fetch(package)) as tar:
                for member in tar.getmembers():
                    rel = member.name.removeprefix("package/")
                    if member.isfile() and rel.startswith(package.keep) and ".." not in rel:
                        out = target / rel
                        out.parent.mkdir(parents=True, exist_ok=True)
                        out.write_bytes(tar.extractfile(member).read())
            stamp.write_text(package.integrity)
        folders[package.name] = package.folder
    return folders
