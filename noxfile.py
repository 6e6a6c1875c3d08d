"""
Every check CI runs, runnable the same way on a laptop: ``nox -s tests``.
"""

from __future__ import annotations

from pathlib import Path

import nox


nox.needs_version = ">=2025.5.1"
nox.options.default_venv_backend = "uv|virtualenv"
nox.options.reuse_existing_virtualenvs = True
nox.options.error_on_external_run = True
nox.options.sessions = ["lint", "mypy", "tests", "coverage", "docs", "wheel"]

PYPROJECT = nox.project.load_toml("pyproject.toml")
PYTHONS = nox.project.python_versions(PYPROJECT)  # from the classifiers


def _group(name: str) -> list[str]:
    return list(nox.project.dependency_groups(PYPROJECT, name))


@nox.session
def lint(session: nox.Session) -> None:
    """
    Ruff, exactly as CI runs it.
    """
    session.install(*_group("lint"))
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session(python=PYTHONS[0])
def mypy(session: nox.Session) -> None:
    """
    Strict mypy on the package, the public-API typing tests, and this file.
    """
    session.install("-e", ".[emulator,cli]", *_group("typing"))
    session.run("mypy", "twupload", "tests/typing", "noxfile.py")


@nox.session(python=PYTHONS)
def tests(session: nox.Session) -> None:
    """
    The suite on every supported Python; each async test runs on asyncio and trio.
    """
    session.install(".[emulator,cli]", *_group("tests"))
    session.run(
        "coverage",
        "run",
        "-m",
        "pytest",
        *session.posargs,
        env={"COVERAGE_FILE": f".coverage.{session.python}"},
    )


@nox.session(default=False)
def coverage(session: nox.Session) -> None:
    """
    Combine the per-Python data and fail below the coverage floor.
    """
    session.install("coverage[toml]")
    session.run("coverage", "combine")
    session.run("coverage", "report", "--fail-under=100")


@nox.session(python=PYTHONS[1], default=False)
def bench(session: nox.Session) -> None:
    """
    twupload side by side with baseline clients, in one run (see docs/benchmarks.md).
    """
    session.install(".[emulator]", *_group("bench"))
    session.run("python", "-m", "bench", *session.posargs)


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
