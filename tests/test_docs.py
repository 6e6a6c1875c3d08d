"""
Every ```python block of the README and the docs, run the way a reader runs it.

A block is a whole program, run in a fresh namespace as ``__main__`` from a
temporary directory that holds the files the docs name, with the ``TWUPLOAD_*``
variables pointing at a running emulator; or a pytest module, run by pytest.
A block that cannot run says why in a ``<!-- not run: reason -->`` comment on
the line before it. An unmarked block that does not run fails here, and so
does a marker with no block under it.
"""

from __future__ import annotations

import ast
import contextlib
import importlib.util
import json
import logging
import re
import time

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from twupload import OAuth1Credentials
from twupload.testing import Emulator

from samples import jpeg, mp4, png


if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from twupload.testing import MediaRecord


pytest_plugins = ["pytester"]
# Let twupload pick its transport as it does for users (httpx-aiohttp on asyncio).
pytestmark = pytest.mark.aiohttp_transport

ROOT = Path(__file__).resolve().parent.parent
DOCS = [
    ROOT / "README.md",
    *sorted(p for p in (ROOT / "docs").rglob("*.md") if "_build" not in p.parts),
]
PYTHON = frozenset({"python", "py", "python3"})
FENCE = re.compile(r"^(?P<indent> {0,3})(?P<fence>`{3,}|~{3,})\s*(?P<info>.*?)\s*$")
NOT_RUN = re.compile(
    r"^\s*<!--\s*not run\b:?\s*(?P<reason>.*?)\s*-->\s*$", re.IGNORECASE
)
# Blocks that may stay unrun; raise it only with a reason in the doc.
MAX_NOT_RUN = 1
PROXY_VARS = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY")


@dataclass(frozen=True)
class Block:
    """
    One fenced Python block: where it is, its code, and its not-run reason if it has one.
    """

    path: Path
    line: int  # of the first line of code
    code: str = field(repr=False)
    not_run: str | None = None

    @property
    def id(self) -> str:
        return f"{self.path.relative_to(ROOT).as_posix()}:{self.line}"

    @property
    def tests(self) -> list[str]:
        """
        The pytest tests the block defines; none for a program.
        """
        return [
            node.name
            for node in ast.parse(self.code).body
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
            and node.name.startswith("test")
        ]


def _language(info: str) -> str:
    words = info.lower().split()
    if words and words[0] in {"{code-block}", "{code}", "{sourcecode}"}:
        words = words[1:]
    return words[0] if words else ""


def extract(path: Path, text: str | None = None) -> list[Block]:
    """
    The Python blocks of a Markdown file, with the ``not run`` reason each one gives.

    Raises:
        ValueError: A ``not run`` marker without a reason, or with no Python block under it.
    """
    lines = (path.read_text(encoding="utf-8") if text is None else text).splitlines()
    blocks: list[Block] = []
    index = 0
    while index < len(lines):
        opening = FENCE.match(lines[index])
        marker = NOT_RUN.match(lines[index])
        if marker and not marker["reason"]:
            raise ValueError(
                f"{path}:{index + 1}: a not-run marker must give its reason."
            )
        if marker:
            following = (
                FENCE.match(lines[index + 1]) if index + 1 < len(lines) else None
            )
            if not following or _language(following["info"]) not in PYTHON:
                raise ValueError(
                    f"{path}:{index + 1}: a not-run marker must be on the line just "
                    "before a ```python block."
                )
        if not opening:
            index += 1
            continue
        fence, indent = opening["fence"], len(opening["indent"])
        end = index + 1
        while end < len(lines):
            closing = FENCE.match(lines[end])
            if (
                closing
                and closing["fence"][0] == fence[0]
                and len(closing["fence"]) >= len(fence)
                and not closing["info"]
            ):
                break
            end += 1
        if _language(opening["info"]) in PYTHON:
            previous = NOT_RUN.match(lines[index - 1]) if index else None
            blocks.append(
                Block(
                    path=path,
                    line=index + 2,
                    code="\n".join(line[indent:] for line in lines[index + 1 : end])
                    + "\n",
                    not_run=previous["reason"] if previous else None,
                )
            )
        index = end + 1
    return blocks


ALL_BLOCKS = [block for path in DOCS for block in extract(path)]
RUNNABLE = [block for block in ALL_BLOCKS if block.not_run is None]


# The files the docs upload, made on demand in the directory a block runs in.
MIB = 1024 * 1024
SAMPLES: dict[str, Callable[[], bytes]] = {
    "cat.jpg": lambda: jpeg(4_000),
    "cat.png": lambda: png(64, 48),
    "a.png": lambda: png(3, 2),
    "b.png": lambda: png(2, 3),
    "clip.mp4": lambda: mp4(64 * 1024),
    "talk.mp4": lambda: mp4(5 * MIB),  # two segments of the default 4 MiB
    "notes.txt": lambda: b"Not a picture.\n",
    "tests/data/cat.png": lambda: png(640, 480),
    "pictures/1.jpg": lambda: jpeg(1_000),
    "pictures/2.jpg": lambda: jpeg(2_000),
    "pictures/3.jpg": lambda: jpeg(3_000),
    "pictures/4.jpg": lambda: b"",  # empty: refused before any request
}


def write_samples(directory: Path, code: str) -> None:
    for name, make in SAMPLES.items():
        if name.split("/")[0] in code:
            target = directory / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(make())


@dataclass
class Output:
    out: str
    err: str

    @property
    def lines(self) -> list[str]:
        return self.out.splitlines()


@dataclass
class DocRun:
    """
    Runs one block against *emu*, from *workdir*, and returns what it printed.
    """

    block: Block
    emu: Emulator
    workdir: Path
    capsys: pytest.CaptureFixture[str]
    pytester: pytest.Pytester | None = None
    backend: str = "asyncio"
    runs: list[Output] = field(default_factory=list)

    def run(self) -> Output:
        if self.block.tests:
            return self._pytest()
        code = self.block.code
        if self.backend != "asyncio":
            code, count = re.subn(
                r"^anyio\.run\(main\)",
                f'anyio.run(main, backend="{self.backend}")',
                code,
                flags=re.MULTILINE,
            )
            assert count == 1, f"{self.block.id} must end with anyio.run(main)"
        # Padded so that a traceback names the line in the Markdown file.
        program = compile(
            "\n" * (self.block.line - 1) + code, str(self.block.path), "exec"
        )
        self.capsys.readouterr()
        with fresh_logging():
            exec(program, {"__name__": "__main__"})  # noqa: S102 - the docs' own code
            output = Output(*self.capsys.readouterr())
        self.runs.append(output)
        return output

    def _pytest(self) -> Output:
        assert self.pytester is not None
        module = "test_" + re.sub(r"\W", "_", self.block.id)
        self.pytester.makepyfile(
            **{module: "\n" * (self.block.line - 1) + self.block.code}
        )
        write_samples(self.pytester.path, self.block.code)
        # A strict project, like this one: a warning fails the test.
        ini = "[pytest]\nfilterwarnings = error\n"
        if importlib.util.find_spec("pytest_asyncio"):
            ini += "asyncio_default_fixture_loop_scope = function\n"
        self.pytester.makeini(ini)
        # Hypothesis's plugin (a dependency of this project's tests, not of the
        # docs) would import hypothesis afresh for each run: seconds of nothing.
        result = self.pytester.runpytest_inprocess(
            "-p", "no:cacheprovider", "-p", "no:hypothesispytest", "-v"
        )
        outcomes = result.parseoutcomes()
        assert outcomes.get("passed", 0) >= len(self.block.tests), result.outlines
        assert set(outcomes) == {"passed"}, result.outlines
        for name in self.block.tests:
            # With trio installed, anyio's plugin runs each test on both backends.
            assert re.search(rf"::{name}\b.* PASSED", result.stdout.str()), name
        output = Output("\n".join(result.outlines), "\n".join(result.errlines))
        self.runs.append(output)
        return output


@contextlib.contextmanager
def fresh_logging() -> Iterator[None]:
    """
    The root logger as in a new interpreter, so a block's ``logging.basicConfig`` takes effect.
    """
    root, ours = logging.getLogger(), logging.getLogger("twupload")
    handlers, level, our_level = root.handlers[:], root.level, ours.level
    root.handlers.clear()
    root.setLevel(logging.WARNING)
    try:
        yield
    finally:
        for handler in root.handlers:
            handler.close()
        root.handlers[:] = handlers
        root.setLevel(level)
        ours.setLevel(our_level)


# What each block must do, beyond running to its end with nothing on stderr.


def _media_by_type(emu: Emulator, media_type: str) -> list[MediaRecord]:
    return [m for m in emu.media.values() if m.media_type == media_type]


def check_quickstart(doc: DocRun) -> None:
    out = doc.run()
    media_id = out.lines[0].split()[0]
    cat = doc.emu.get_media(media_id)
    assert (cat.media_type, cat.alt_text) == (
        "image/jpeg",
        "A cat asleep on a keyboard",
    )
    assert len(doc.emu.media) == 4
    (clip,) = _media_by_type(doc.emu, "video/mp4")
    assert clip.processing_state == "succeeded"
    assert out.out.count("UploadResult(") == 3


def _caught_outside(code: str) -> bool:
    """
    Whether an ``except ...InvalidMediaError`` belongs to a ``try`` around ``async with``.
    """
    return any(
        isinstance(node, ast.Try)
        and isinstance(node.body[0], ast.AsyncWith)
        and any(
            handler.type is not None
            and ast.unparse(handler.type).endswith("InvalidMediaError")
            for handler in node.handlers
        )
        for node in ast.walk(ast.parse(code))
    )


def check_caught_outside(doc: DocRun) -> None:
    assert _caught_outside(doc.block.code), "catch it around `async with`"
    out = doc.run()
    assert len(out.lines) == 1, out.out
    assert out.lines[0].startswith("Not uploaded: "), out.out
    assert doc.emu.stats.requests == 0


def check_tutorial_one_image(doc: DocRun) -> None:
    out = doc.run()
    (media,) = doc.emu.media.values()
    assert (media.media_type, media.alt_text) == ("image/png", "A cat")
    assert (media.width, media.height) == (64, 48)
    assert out.lines[0].startswith(f"{media.media_id} ImageInfo(")


def _check_pictures(doc: DocRun, out: Output) -> None:
    assert len(doc.emu.media) == 3
    failed = [line for line in out.lines if "failed: " in line]
    assert len(failed) == 1, out.out
    assert "4.jpg" in failed[0]
    assert doc.emu.stats.requests == 3


def check_tutorial_folder(doc: DocRun) -> None:
    out = doc.run()
    _check_pictures(doc, out)
    assert [line.split(": ")[0] for line in out.lines] == [
        str(Path("pictures", f"{n}.jpg")) for n in "1234"
    ]
    ids = {str(media_id) for media_id in doc.emu.media}
    assert {line.split(": ")[1] for line in out.lines[:3]} == ids


def check_tutorial_iter_upload(doc: DocRun) -> None:
    out = doc.run()
    _check_pictures(doc, out)
    assert sorted(int(line.split()[0]) for line in out.lines) == [0, 1, 2, 3]


def check_tutorial_video(doc: DocRun) -> None:
    out = doc.run()
    (clip,) = doc.emu.media.values()
    assert (clip.category, clip.processing_state) == ("tweet_video", "succeeded")
    assert out.lines[-1].startswith(f"{clip.media_id} ProcessingInfo(state='succeeded'")


def check_big_video(doc: DocRun) -> None:
    out = doc.run()
    (talk,) = doc.emu.media.values()
    assert (talk.category, talk.size, len(talk.segments)) == ("tweet_video", 5 * MIB, 2)
    assert out.lines == [
        "pending None",
        "in_progress 50",
        "succeeded 100",
        f"{talk.media_id} succeeded",
    ]


def check_resume(doc: DocRun) -> None:
    # A FINALIZE that keeps failing (Retry-After: 0, so the retries do not wait).
    doc.emu.fail_next(4, status=503, command="FINALIZE", headers={"Retry-After": "0"})
    first = doc.run()
    saved = doc.workdir / "talk.resume.json"
    assert first.lines[0].startswith("Interrupted: FINALIZE"), first.out
    assert first.lines[-1] == "Saved talk.resume.json; run again to resume."
    state = json.loads(saved.read_text())
    media_id = int(state["media_id"])
    assert not doc.emu.get_media(media_id).finalized

    second = doc.run()
    assert second.lines == [f"Uploaded talk.mp4 as media {media_id}"]
    assert not saved.exists()
    media = doc.emu.get_media(media_id)
    assert (media.finalized, media.size) == (True, 5 * MIB)
    commands = doc.emu.stats.by_command
    # One INIT, each segment sent once, and FINALIZE again only.
    assert (commands["INIT"], commands["APPEND"], commands["FINALIZE"]) == (1, 2, 5)


def check_rich_progress(doc: DocRun) -> None:
    out = doc.run()
    (clip,) = doc.emu.media.values()
    assert f"{clip.media_id} succeeded" in out.lines


def check_rich_batch(doc: DocRun) -> None:
    out = doc.run()
    assert len(doc.emu.media) == 3
    assert "pictures/4.jpg: " in out.out


def check_rate_limits(doc: DocRun) -> None:
    out = doc.run()
    assert re.fullmatch(
        r"upload: 414 of 415 left until \d\d:\d\d:\d\d UTC", out.lines[-1]
    ), out.out
    assert len(doc.emu.media) == 1


def check_logging(doc: DocRun) -> None:
    doc.emu.fail_next(status=503, command="upload", headers={"Retry-After": "0"})
    out = doc.run()
    logged = out.err.splitlines()
    assert any(
        line.startswith("INFO:twupload:upload: HTTP 503") and "retry 1 of 3" in line
        for line in logged
    ), out.err
    assert "DEBUG:twupload:upload: POST /1.1/media/upload.json" in logged, out.err
    creds = doc.emu.credentials
    for secret in (
        creds.consumer_secret,
        creds.access_token,
        creds.access_token_secret,
    ):
        assert secret not in out.err
    assert "oauth_signature" not in out.err
    assert "authorization" not in out.err.lower()
    assert len(doc.emu.media) == 1


def check_emulator_by_hand(doc: DocRun) -> None:
    out = doc.run()
    assert re.fullmatch(
        r"http://127\.0\.0\.1:\d+ OAuth1Credentials\(consumer_key='[^']+', "
        r"consumer_secret='\*\*\*', access_token='\*\*\*', access_token_secret='\*\*\*'\)",
        out.out.strip(),
    ), out.out


def check_emulator_rate_limit(doc: DocRun) -> None:
    out = doc.run()
    assert out.out.startswith("{'limit': 10, 'remaining': 10, 'reset': "), out.out


def check_oauth2_refresh(doc: DocRun) -> None:
    # What the authorization step left: an emulator-issued token with its
    # refresh token, saved as expired, so the client refreshes it first. (The
    # token itself stays valid at the emulator, which gives refreshed tokens
    # their grant's lifetime: one issued with expires_in=0 would keep expiring.)
    issued = doc.emu.issue_token(refresh=True)
    tokens = doc.workdir / "x-tokens.json"
    tokens.write_text(
        json.dumps(
            {
                "access_token": issued.access_token,
                "refresh_token": issued.refresh_token,
                "expires_at": time.time() - 60,
            }
        )
    )
    with pytest.MonkeyPatch.context() as env:
        env.setenv("X_CLIENT_ID", issued.client_id)
        env.delenv("X_CLIENT_SECRET", raising=False)
        out = doc.run()
    saved = json.loads(tokens.read_text())
    assert doc.emu.stats.token_requests == 1
    assert saved["refresh_token"] not in {None, issued.refresh_token}
    assert saved["access_token"] != issued.access_token
    assert saved["expires_at"] > time.time() + 3600
    assert [p.name for p in doc.workdir.iterdir() if p.suffix == ".json"] == [
        "x-tokens.json"
    ]
    assert [line.split(": ")[0] for line in out.lines] == ["a.png", "b.png", "clip.mp4"]
    assert {line.split(": ")[1] for line in out.lines} == {
        str(media_id) for media_id in doc.emu.media
    }
    media = [r for r in doc.emu.requests if r.path != "/2/oauth2/token"]
    assert {(r.api, r.auth) for r in media} == {("2", "bearer")}
    for secret in (issued.access_token, issued.refresh_token, saved["refresh_token"]):
        assert secret not in out.out


def check_migrate_oauth1_on_v2(doc: DocRun) -> None:
    out = doc.run()
    (media,) = doc.emu.media.values()
    assert (media.api, media.alt_text) == ("2", "A cat asleep on a keyboard")
    assert out.lines == [f"{media.media_id} {media.media_key}"]
    assert {(r.api, r.auth) for r in doc.emu.requests} == {("2", "oauth1")}


def check_migrate_453(doc: DocRun) -> None:
    doc.emu.refuse_v1_1()
    out = doc.run()
    (media,) = doc.emu.media.values()
    assert out.lines == [
        "v1.1 refused with error 453; uploading with the v2 endpoints",
        f"{media.media_id} uploaded with api={media.api!r}",
    ]
    assert media.api == "2"


def check_migrate_usage_cap(doc: DocRun) -> None:
    doc.emu.cap_usage(api="2")
    out = doc.run()
    assert out.lines == [
        f"{name}: usage cap reached (Monthly); try again next period"
        for name in ("a.png", "b.png")
    ]
    assert doc.emu.media == {}


@dataclass(frozen=True)
class Expect:
    """
    The checks for the one block of *doc* whose code contains *contains*.
    """

    doc: str
    contains: str
    check: Callable[[DocRun], None]
    trio: bool = False
    quiet: bool = True  # nothing on stderr


EXPECT = [
    Expect("README.md", "upload_many(", check_quickstart, trio=True),
    Expect(
        "README.md",
        "except twupload.InvalidMediaError",
        check_caught_outside,
        trio=True,
    ),
    Expect("docs/tutorial.md", 'alt_text="A cat")', check_tutorial_one_image),
    Expect("docs/tutorial.md", "upload_many(", check_tutorial_folder),
    Expect("docs/tutorial.md", "iter_upload(", check_tutorial_iter_upload),
    Expect("docs/tutorial.md", 'upload("clip.mp4")', check_tutorial_video),
    Expect(
        "docs/tutorial.md",
        "except twupload.InvalidMediaError",
        check_caught_outside,
        trio=True,
    ),
    Expect(
        "docs/how-to/big-videos.md", 'media_category="tweet_video"', check_big_video
    ),
    Expect("docs/how-to/big-videos.md", "talk.resume.json", check_resume),
    Expect("docs/how-to/progress-bars.md", "on_processing=", check_rich_progress),
    Expect("docs/how-to/progress-bars.md", "progress.advance", check_rich_batch),
    Expect("docs/how-to/rate-limits.md", "client.rate_limits", check_rate_limits),
    Expect(
        "docs/how-to/rate-limits.md", "logging.basicConfig", check_logging, quiet=False
    ),
    Expect(
        "docs/how-to/emulator-testing.md", "keep_bytes=False", check_emulator_by_hand
    ),
    Expect(
        "docs/how-to/emulator-testing.md",
        'rate_limit("upload")',
        check_emulator_rate_limit,
    ),
    Expect(
        "docs/how-to/oauth2.md", "on_token_refresh=save_token", check_oauth2_refresh
    ),
    Expect(
        "docs/how-to/migrate-to-v2.md",
        'alt_text="A cat asleep on a keyboard"',
        check_migrate_oauth1_on_v2,
        trio=True,
    ),
    Expect("docs/how-to/migrate-to-v2.md", "453", check_migrate_453),
    Expect("docs/how-to/migrate-to-v2.md", "UsageCapError", check_migrate_usage_cap),
]


def _expectation(block: Block) -> Expect | None:
    found = [
        expect
        for expect in EXPECT
        if block.path == ROOT / expect.doc and expect.contains in block.code
    ]
    assert len(found) <= 1, f"{block.id} matches several expectations: {found}"
    return found[0] if found else None


@pytest.fixture
def emu() -> Iterator[Emulator]:
    with Emulator() as emulator:
        # One quick in_progress step instead of the default one-second waits.
        emulator.set_processing("succeed", steps=1, check_after_secs=0)
        yield emulator


def _doc_run(
    block: Block,
    emu: Emulator,
    request: pytest.FixtureRequest,
    backend: str = "asyncio",
) -> DocRun:
    monkeypatch: pytest.MonkeyPatch = request.getfixturevalue("monkeypatch")
    workdir: Path = request.getfixturevalue("tmp_path")
    for name in PROXY_VARS:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    creds = emu.credentials
    values = (
        creds.consumer_key,
        creds.consumer_secret,
        creds.access_token,
        creds.access_token_secret,
    )
    for name, value in zip(OAuth1Credentials.ENV_VARS, values, strict=True):
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("TWUPLOAD_BASE_URL", emu.url)
    pytester = request.getfixturevalue("pytester") if block.tests else None
    if pytester is None:
        monkeypatch.chdir(workdir)
        write_samples(workdir, block.code)
    return DocRun(
        block,
        emu,
        workdir,
        request.getfixturevalue("capsys"),
        pytester=pytester,
        backend=backend,
    )


@pytest.mark.parametrize("block", RUNNABLE, ids=lambda block: block.id)
def test_block_runs(
    block: Block, emu: Emulator, request: pytest.FixtureRequest
) -> None:
    """
    The block runs to its end on asyncio and does what its text says.
    """
    doc = _doc_run(block, emu, request)
    expect = _expectation(block)
    if expect is not None:
        expect.check(doc)
    else:
        doc.run()
    if not block.tests and (expect is None or expect.quiet):
        assert [output.err for output in doc.runs] == [""] * len(doc.runs)


TRIO = [
    block
    for block in RUNNABLE
    if (expect := _expectation(block)) is not None and expect.trio
]


@pytest.mark.parametrize("block", TRIO, ids=lambda block: block.id)
def test_block_runs_on_trio(
    block: Block, emu: Emulator, request: pytest.FixtureRequest
) -> None:
    """
    The quick start and the error handling run unchanged on trio.
    """
    doc = _doc_run(block, emu, request, backend="trio")
    expect = _expectation(block)
    assert expect is not None
    expect.check(doc)


def test_every_expectation_picks_one_block() -> None:
    for expect in EXPECT:
        found = [
            block
            for block in RUNNABLE
            if block.path == ROOT / expect.doc and expect.contains in block.code
        ]
        assert len(found) == 1, (expect.doc, expect.contains, [b.id for b in found])
    assert {"README.md", "docs/tutorial.md"} <= {
        expect.doc for expect in EXPECT if expect.trio
    }


def test_blocks_not_run_say_why() -> None:
    """
    Few blocks stay unrun, and each gives its reason where readers and writers see it.
    """
    not_run = [block for block in ALL_BLOCKS if block.not_run is not None]
    assert len(not_run) <= MAX_NOT_RUN, [block.id for block in not_run]
    for block in not_run:
        assert len(block.not_run.split()) >= 3, block.id  # type: ignore[union-attr]
    assert len(RUNNABLE) >= len(EXPECT)
    assert {block.path.name for block in RUNNABLE} >= {
        "README.md",
        "tutorial.md",
        "big-videos.md",
        "emulator-testing.md",
        "progress-bars.md",
        "rate-limits.md",
        "oauth2.md",
        "migrate-to-v2.md",
    }


SAMPLE_DOC = """\
Text.

```python
print("runs")
```

<!-- not run: continues the block above -->
```py
print(undefined)
```

```console
$ twupload demo
```

````markdown
```python
print("inside another fence: not a block")
```
````

- a list item:

   ~~~ {code-block} python
   await client.upload("x.png")
   ~~~
"""


def test_extract_finds_python_blocks_and_their_markers() -> None:
    path = ROOT / "sample.md"
    blocks = extract(path, SAMPLE_DOC)
    assert [(b.line, b.code, b.not_run) for b in blocks] == [
        (4, 'print("runs")\n', None),
        (9, "print(undefined)\n", "continues the block above"),
        (25, 'await client.upload("x.png")\n', None),
    ]


@pytest.mark.parametrize(
    "text",
    [
        "<!-- not run: -->\n```python\nx\n```\n",
        "<!-- not run: a reason -->\n\nText.\n",
        "<!-- not run: a reason -->\n```console\n$ ls\n```\n",
    ],
    ids=["no reason", "no block", "not python"],
)
def test_extract_refuses_a_marker_without_reason_or_block(text: str) -> None:
    with pytest.raises(ValueError, match="not-run marker"):
        extract(ROOT / "sample.md", text)


@pytest.mark.parametrize(
    ("code", "error"),
    [
        ('await client.upload("cat.png")\n', SyntaxError),
        ("print(client)\n", NameError),
    ],
    ids=["top-level await", "undefined name"],
)
def test_an_unmarked_fragment_fails(
    code: str, error: type[Exception], emu: Emulator, request: pytest.FixtureRequest
) -> None:
    """
    A fragment that continues another block cannot pass as a program.
    """
    doc = _doc_run(Block(ROOT / "sample.md", 3, code), emu, request)
    with pytest.raises(error):
        doc.run()
