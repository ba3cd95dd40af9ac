#!/usr/bin/env python3
"""Set up and run the course. Standard library only: it runs before anything is installed.

    python3 course.py start    create .venv, install everything, prepare the datasets, open JupyterLab
    python3 course.py test     create/update .venv if needed, then run every test (unit tests + notebooks)
    python3 course.py build    every chapter as a reveal.js deck and a page, and the course site, in build/

Options: ``start --no-lab`` sets up without opening JupyterLab; ``test -- ARGS`` passes
ARGS to pytest (e.g. ``python3 course.py test -- tests/test_data.py -x``).

Environment variables: ``CNNLIB_MIRROR`` (a folder with an offline copy of the datasets,
used when there is no internet; relative paths are taken from this folder),
``CNNLIB_DATA`` (where datasets are cached; default ``data/``).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
STAMP = VENV / ".cnnlib-install-stamp"


def venv_python() -> Path:
    return VENV / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def run(cmd: list[str], **kwargs) -> None:
    print("+", " ".join(str(c) for c in cmd), flush=True)
    subprocess.run([str(c) for c in cmd], check=True, cwd=ROOT, **kwargs)


def install_fingerprint() -> str:
    """Changes whenever the declared dependencies change, so the install is redone only then."""
    return hashlib.sha256((ROOT / "pyproject.toml").read_bytes() + sys.version.encode()).hexdigest()


def ensure_environment() -> Path:
    """Create ``.venv`` and install the course (editable) with its test extras, unless already done."""
    if not venv_python().exists():
        if sys.version_info < (3, 10):
            sys.exit(
                f"Python 3.10 or newer is needed; this is {sys.version.split()[0]}. "
                "Install a newer Python or use the conda route (README)."
            )
        print(f"Creating the virtual environment {VENV} ...", flush=True)
        venv.EnvBuilder(with_pip=True, clear=False).create(VENV)
    if not STAMP.exists() or STAMP.read_text() != install_fingerprint():
        run([venv_python(), "-m", "pip", "install", "--upgrade", "pip"])
        run([venv_python(), "-m", "pip", "install", "-e", ".[test]"])
        STAMP.write_text(install_fingerprint())
    else:
        print(f"Environment {VENV} is up to date.", flush=True)
    return venv_python()


def child_env() -> dict[str, str]:
    env = dict(os.environ)
    mirror = env.get("CNNLIB_MIRROR")
    if mirror and not Path(mirror).is_absolute():
        env["CNNLIB_MIRROR"] = str((ROOT / mirror).resolve())  # notebooks run in notebooks/: make it absolute
    return env


def start(open_lab: bool) -> None:
    python = ensure_environment()
    print("Preparing the datasets (decoded once, then cached in data/cache) ...", flush=True)
    try:
        run([python, "-m", "cnnlib.data", "prepare"], env=child_env())
    except subprocess.CalledProcessError:
        print(
            "\nSome datasets could not be prepared (see the message above); the notebooks that need them will say so.\n"
        )
    if open_lab:
        # Serve the whole course folder (the notebooks' figures live in img/); open chapter 00, where it begins.
        lab = [
            python,
            "-m",
            "jupyter",
            "lab",
            f"--ServerApp.root_dir={ROOT}",
            "--LabApp.default_url=/lab/tree/notebooks/00_introduction.ipynb",
        ]
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            lab.append("--allow-root")  # containers and cloud sandboxes often run as root
        print("Opening JupyterLab (stop it with Ctrl+C) ...", flush=True)
        try:
            run(lab, env=child_env())
        except KeyboardInterrupt:
            pass
    else:
        print("Set-up done. Open the course with:  .venv/bin/jupyter lab notebooks/")


def test(pytest_args: list[str]) -> int:
    python = ensure_environment()
    env = child_env()
    env.setdefault("MPLBACKEND", "Agg")
    return subprocess.run([str(python), "-m", "pytest", *pytest_args], cwd=ROOT, env=env).returncode


def build(args: list[str]) -> int:
    python = ensure_environment()
    env = child_env()
    env.setdefault("MPLBACKEND", "Agg")
    return subprocess.run([str(python), "-m", "cnnlib.presentation", *args], cwd=ROOT, env=env).returncode


def main() -> None:
    try:
        _main()
    except subprocess.CalledProcessError as exc:
        sys.exit(
            f"\nThis step failed (exit code {exc.returncode}): {' '.join(map(str, exc.cmd))}\nSee its messages above."
        )


def _main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p_start = sub.add_parser("start", help="set everything up and open the course in JupyterLab")
    p_start.add_argument("--no-lab", action="store_true", help="set up only; do not open JupyterLab")
    p_test = sub.add_parser("test", help="run every test (unit tests and notebooks)")
    p_test.add_argument("pytest_args", nargs="*", help="extra arguments for pytest (after --)")
    p_build = sub.add_parser("build", help="decks, pages and the course site in build/ (offline once built)")
    p_build.add_argument("--force", action="store_true", help="execute every notebook again, even if unchanged")
    p_build.add_argument("chapters", nargs="*", help="only these chapters, e.g. 01_lenet (default: all)")
    args = parser.parse_args()
    if args.command == "start":
        start(open_lab=not args.no_lab)
    elif args.command == "build":
        sys.exit(build([*(["--force"] if args.force else []), *args.chapters]))
    else:
        sys.exit(test(args.pytest_args))


if __name__ == "__main__":
    main()
