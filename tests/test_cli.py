"""
The ``twupload`` command line, run in-process through ``main(argv)`` (and once as a process).
"""

from __future__ import annotations

import datetime as dt
import importlib
import importlib.metadata
import io
import itertools
import json
import os
import re
import runpy
import select
import shlex
import signal
import socket
import struct
import subprocess
import sys
import time
import types
import zlib

from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio
import httpx
import pytest

from rich.console import Console

from twupload import (
    BearerToken,
    InvalidMediaError,
    OAuth1Credentials,
    ProcessingInfo,
    UploadResult,
)
from twupload import _cli as cli
from twupload._cli import _batch, _credentials, _report, _rich, _samples, main


if TYPE_CHECKING:
    from collections.abc import Iterator

    import respx

    from twupload.testing import Emulator


UPLOAD_URL = "https://upload.twitter.com/1.1/media/upload.json"
METADATA_URL = "https://upload.twitter.com/1.1/media/metadata/create.json"
SECRETS = ("ck-public", "cs-SECRET-1", "at-SECRET-2", "ats-SECRET-3")
FIRST_ID = 1_900_000_000_000_000_001  # above 2**53: exact only as a string
ANSI = re.compile(r"\x1b\[")
HOW_TO = Path(__file__).parents[1] / "docs" / "how-to" / "command-line.md"


def tiny_png(width: int = 2, height: int = 2) -> bytes:
    """
    A valid PNG of *width* x *height* black pixels.
    """
    return _samples.png(width, height, [bytes(3 * width)] * height)


@pytest.fixture(autouse=True)
def no_oauth2_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """
    Start every test without OAuth 2.0 variables or an API choice in the environment.
    """
    for name in (*_credentials.BEARER_ENV_VARS, _credentials.API_ENV_VAR):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def credentials_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """
    Put four fake credentials into the environment.
    """
    for name, value in zip(OAuth1Credentials.ENV_VARS, SECRETS, strict=True):
        monkeypatch.setenv(name, value)


@pytest.fixture
def service(respx_mock: respx.MockRouter, credentials_env: None) -> respx.MockRouter:
    """
    A mocked v1.1 upload service that numbers media from `FIRST_ID`.
    """
    ids = itertools.count(FIRST_ID)

    def upload(request: httpx.Request) -> httpx.Response:
        media_id = next(ids)
        return httpx.Response(
            200,
            json={
                "media_id": media_id,
                "media_id_string": str(media_id),
                "media_key": f"3_{media_id}",
                "size": 1234,
                "expires_after_secs": 86400,
                "image": {"image_type": "image/png", "w": 2, "h": 2},
            },
        )

    respx_mock.post(UPLOAD_URL, name="upload").mock(side_effect=upload)
    respx_mock.post(METADATA_URL, name="metadata").respond(200)
    return respx_mock


@pytest.fixture
def images(tmp_path: Path) -> list[Path]:
    """
    Three small PNGs and nothing else.
    """
    paths = [tmp_path / f"{name}.png" for name in ("a", "b", "c")]
    for size, path in enumerate(paths, start=2):
        path.write_bytes(tiny_png(size, size))
    return paths


@pytest.fixture
def terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    """
    Make the command line believe stdout is a terminal, a wide one.
    """
    monkeypatch.setattr(cli, "_is_terminal", lambda: True)
    monkeypatch.setenv("COLUMNS", "250")


def emulator_secrets(emulator: Emulator) -> tuple[str, ...]:
    """
    The emulator's consumer secret, access token and token secret.
    """
    credentials = emulator.credentials
    return (
        credentials.consumer_secret,
        credentials.access_token,
        credentials.access_token_secret,
    )


@pytest.fixture
def emulator_env(
    twupload_emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> Emulator:
    """
    A running emulator whose credentials are in the environment, as a user sets them.
    """
    credentials = twupload_emulator.credentials
    values = (credentials.consumer_key, *emulator_secrets(twupload_emulator))
    for name, value in zip(OAuth1Credentials.ENV_VARS, values, strict=True):
        monkeypatch.setenv(name, value)
    # The upload command honours proxy settings; none can reach 127.0.0.1.
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    monkeypatch.setenv("no_proxy", "127.0.0.1")
    return twupload_emulator


def json_lines(text: str) -> list[dict[str, Any]]:
    """
    Parse one JSON object per line.
    """
    return [json.loads(line) for line in text.splitlines()]


# Usage errors and configuration


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    """
    --version prints the installed version and exits 0.
    """
    assert main(["--version"]) == 0
    assert (
        capsys.readouterr().out
        == f"twupload {importlib.metadata.version('twupload')}\n"
    )


def test_version_of_an_uninstalled_checkout(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """
    Without package metadata, --version says so instead of crashing.
    """

    def missing(name: str) -> str:
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.metadata, "version", missing)
    assert main(["--version"]) == 0
    assert "version unknown" in capsys.readouterr().out


def test_help_lists_the_commands(capsys: pytest.CaptureFixture[str]) -> None:
    """
    --help exits 0 and names every command.
    """
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert all(command in out for command in ("upload", "emulator", "demo"))


@pytest.mark.parametrize(
    ("argv", "complaint"),
    [
        (["upload"], "required: PATH"),
        (["upload", "--concurrency", "0", "a.png"], "must be a whole number >= 1"),
        (["upload", "--concurrency", "many", "a.png"], "must be a whole number >= 1"),
        (["upload", "--category", "tweet_audio", "a.png"], "invalid choice"),
        (["upload", "--alt-text", "x" * 1001, "a.png"], "at most 1000"),
        (["emulator", "--port", "65536"], "port number from 0"),
        (["emulator", "--port", "http"], "port number from 0"),
        (["frobnicate"], "invalid choice"),
    ],
)
def test_usage_errors_exit_2(
    argv: list[str], complaint: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """
    Bad arguments exit 2 with argparse's usage message naming the problem.
    """
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "usage: twupload" in err
    assert complaint in err


def test_missing_credentials_exit_2(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    images: list[Path],
) -> None:
    """
    Missing credentials exit 2 naming every missing variable and no value that is set.
    """
    monkeypatch.setenv("TWUPLOAD_CONSUMER_KEY", SECRETS[0])
    monkeypatch.setenv("TWUPLOAD_CONSUMER_SECRET", SECRETS[1])
    monkeypatch.delenv("TWUPLOAD_ACCESS_TOKEN", raising=False)
    monkeypatch.delenv("TWUPLOAD_ACCESS_TOKEN_SECRET", raising=False)

    assert main(["upload", str(images[0])]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "TWUPLOAD_ACCESS_TOKEN, TWUPLOAD_ACCESS_TOKEN_SECRET" in captured.err
    assert "twupload demo" in captured.err
    assert not any(secret in captured.err for secret in SECRETS)


def test_bad_base_url_exit_2(
    credentials_env: None, images: list[Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """
    A --base-url that is not http(s) is a configuration error, exit 2.
    """
    assert main(["upload", "--base-url", "ftp://example.com", str(images[0])]) == 2
    assert "base_url must start with http" in capsys.readouterr().err


def test_no_arguments_print_a_short_usage(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """
    ``twupload`` alone exits 2 with a short usage that points at the demo and --help.
    """
    monkeypatch.setattr(sys, "argv", ["twupload"])
    assert main() == 2
    assert main([]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == cli.SHORT_USAGE * 2
    lines = cli.SHORT_USAGE.splitlines()
    assert lines[0] == "usage: twupload COMMAND [OPTIONS]"
    assert any(line.startswith("  twupload demo ") for line in lines)
    assert "`twupload --help`" in cli.SHORT_USAGE
    assert max(map(len, lines)) <= 80
    # The how-to shows it verbatim.
    how_to = Path(__file__).parents[1] / "docs" / "how-to" / "command-line.md"
    assert f"$ twupload\n{cli.SHORT_USAGE}```" in how_to.read_text(encoding="utf-8")


def test_missing_path_fails_alone(
    service: respx.MockRouter, images: list[Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """
    A PATH that does not exist is reported as failed, the others upload, exit 1.
    """
    missing = images[0].with_name("nope.png")

    assert main(["upload", "--concurrency", "1", str(missing), *map(str, images)]) == 1

    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith(f"FAILED {missing}: Cannot read {str(missing)!r}: ")
    assert lines[0].endswith(". Check the path.")
    assert [line.split(":")[0] for line in lines if line.startswith("uploaded ")] == [
        f"uploaded {image}" for image in images
    ]
    assert not any(line.startswith(f"uploading {missing}") for line in lines)
    assert lines[-1].startswith("3 uploaded, 1 failed (")
    assert service.routes["upload"].call_count == 3


def test_directory_without_media_fails_alone(
    service: respx.MockRouter,
    tmp_path: Path,
    images: list[Path],
    capsys: pytest.CaptureFixture[str],
) -> None:
    """
    A directory with no media files fails, saying what was looked for; the rest upload.
    """
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.txt").write_text("hello")
    (empty / ".hidden.png").write_bytes(tiny_png())

    assert main(["upload", str(empty), str(images[0])]) == 1

    out = capsys.readouterr().out
    assert (
        f"FAILED {empty}: No media files in directory {str(empty)!r} (looked for "
        ".gif, .jpeg, .jpg, .m4v, .mov, .mp4, .png, .webp; hidden files are skipped)."
    ) in out.splitlines()
    assert f"uploaded {images[0]}: media_id {FIRST_ID}" in out
    assert service.routes["upload"].call_count == 1


def test_collect_jobs_reads_directories(tmp_path: Path) -> None:
    """
    Directories expand to their visible media files, sorted and not recursively.
    """
    (tmp_path / "b.png").write_bytes(tiny_png())
    (tmp_path / "A.JPG").write_bytes(b"\xff\xd8\xff" + bytes(10))
    (tmp_path / ".hidden.png").write_bytes(tiny_png())
    (tmp_path / "notes.txt").write_text("hello")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "c.png").write_bytes(tiny_png())
    (tmp_path / "dir.png").mkdir()
    single = tmp_path / "sub" / "c.png"

    jobs = _batch.collect_jobs([str(tmp_path), str(single)])

    assert [job.path.name for job in jobs] == ["A.JPG", "b.png", "c.png"]
    assert [job.index for job in jobs] == [0, 1, 2]
    assert jobs[0].size == 13
    assert jobs[2].label == str(single)


def test_collect_jobs_for_subtitles(tmp_path: Path) -> None:
    """
    With the subtitles category, a directory contributes its .srt files instead.
    """
    (tmp_path / "en.srt").write_text("1\n00:00:00,000 --> 00:00:01,000\nHi\n")
    (tmp_path / "a.png").write_bytes(tiny_png())
    jobs = _batch.collect_jobs([str(tmp_path)], subtitles=True)
    assert [job.path.name for job in jobs] == ["en.srt"]


def test_collect_jobs_keeps_unreadable_paths_as_failed(tmp_path: Path) -> None:
    """
    Missing paths and empty directories become jobs that already failed, in place.
    """
    (tmp_path / "a.png").write_bytes(tiny_png())
    (tmp_path / "empty").mkdir()
    paths = [tmp_path / "gone.png", tmp_path / "a.png", tmp_path / "empty"]

    jobs = _batch.collect_jobs(map(str, paths))

    assert [(job.index, job.label) for job in jobs] == list(enumerate(map(str, paths)))
    assert [type(job.error) for job in jobs] == [
        InvalidMediaError,
        type(None),
        InvalidMediaError,
    ]
    assert str(jobs[0].error).startswith(f"Cannot read {str(paths[0])!r}: ")
    assert str(jobs[2].error).startswith("No media files in directory")
    assert [job.size for job in jobs] == [0, paths[1].stat().st_size, 0]


# Uploads


def test_json_output(
    service: respx.MockRouter, images: list[Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """
    --json prints one object per file with string media ids and ISO expiry, exit 0.
    """
    assert main(["upload", "--json", *map(str, images)]) == 0

    captured = capsys.readouterr()
    records = sorted(json_lines(captured.out), key=lambda record: str(record["path"]))
    assert [record["path"] for record in records] == list(map(str, images))
    assert sorted(record["media_id"] for record in records) == [
        str(FIRST_ID + n) for n in range(3)
    ]
    for record in records:
        assert set(record) == {
            "path",
            "ok",
            "media_id",
            "media_key",
            "size",
            "expires_at",
        }
        assert record["ok"] is True
        assert record["media_key"] == f"3_{record['media_id']}"
        assert record["size"] == 1234
        expires_at = dt.datetime.fromisoformat(str(record["expires_at"]))
        assert expires_at.utcoffset() == dt.timedelta(0)
    assert captured.err == ""
    assert service.routes["upload"].call_count == 3


def test_json_reports_the_failed_file(
    service: respx.MockRouter, images: list[Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """
    An invalid file fails alone: exit 1, its record says why, the others uploaded.
    """
    notes = images[0].with_name("notes.txt")
    notes.write_text("not an image")

    assert main(["upload", "--json", str(images[0]), str(notes), str(images[1])]) == 1

    captured = capsys.readouterr()
    records = {record["path"]: record for record in json_lines(captured.out)}
    failed = records[str(notes)]
    assert failed["ok"] is False
    assert failed["error_type"] == "InvalidMediaError"
    assert "Convert the file to one of those formats" in str(failed["error"])
    assert records[str(images[0])]["ok"] is True
    assert records[str(images[1])]["ok"] is True
    assert "1 of 3 files failed" in captured.err
    assert service.routes["upload"].call_count == 2


def test_json_goes_on_after_a_missing_file(
    service: respx.MockRouter, images: list[Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """
    --json prints a record for a missing file too, uploads the rest, and exits 1.
    """
    missing = images[0].with_name("missing.png")

    assert main(["upload", "--json", str(missing), str(images[0])]) == 1

    captured = capsys.readouterr()
    first, second = json_lines(captured.out)
    assert set(first) == {"path", "ok", "error", "error_type"}
    assert first["path"] == str(missing)
    assert first["ok"] is False
    assert first["error_type"] == "InvalidMediaError"
    assert str(first["error"]).startswith(f"Cannot read {str(missing)!r}: ")
    assert second["path"] == str(images[0])
    assert second["media_id"] == str(FIRST_ID)
    assert captured.err == (
        'twupload: 1 of 2 files failed; each has "ok": false and an "error" saying '
        "what to do.\n"
    )
    assert not any(secret in captured.out + captured.err for secret in SECRETS[1:])
    assert service.routes["upload"].call_count == 1


@pytest.mark.skipif(not hasattr(socket, "AF_UNIX"), reason="needs a socket file")
def test_json_reports_a_file_that_cannot_be_opened(
    service: respx.MockRouter,
    images: list[Path],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """
    An OSError the library lets through (a socket file) fails that file alone.
    """
    monkeypatch.chdir(images[0].parent)  # a short path: socket paths are limited
    with socket.socket(socket.AF_UNIX) as listener:
        listener.bind("s.sock")
        assert main(["upload", "--json", "s.sock", str(images[0])]) == 1

    records = {record["path"]: record for record in json_lines(capsys.readouterr().out)}
    failed = records["s.sock"]
    assert failed["ok"] is False
    assert failed["error_type"] == "OSError"
    assert "s.sock" in str(failed["error"])
    assert records[str(images[0])]["ok"] is True


def test_upload_to_the_emulator(
    emulator_env: Emulator,
    images: list[Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """
    Against the emulator, --json has one record per path, failed ones included.
    """
    missing = tmp_path / "missing.png"
    empty = tmp_path / "empty"
    empty.mkdir()
    argv = ["upload", "--json", "--category", "tweet_image"]
    paths = [str(missing), str(images[0]), str(empty), str(images[1])]

    assert main([*argv, "--base-url", emulator_env.url, *paths]) == 1

    captured = capsys.readouterr()
    records = {record["path"]: record for record in json_lines(captured.out)}
    assert sorted(records) == sorted(paths)
    for path in (missing, empty):
        assert records[str(path)]["ok"] is False
        assert records[str(path)]["error_type"] == "InvalidMediaError"
    uploaded = [records[str(image)] for image in images[:2]]
    assert [record["ok"] for record in uploaded] == [True, True]
    assert sorted(int(record["media_id"]) for record in uploaded) == sorted(
        emulator_env.media
    )
    for record in uploaded:
        media = emulator_env.get_media(record["media_id"])
        assert record["media_key"] == media.media_key
        assert record["size"] == media.size
    assert "2 of 4 files failed" in captured.err
    assert not any(
        secret in captured.out + captured.err
        for secret in emulator_secrets(emulator_env)
    )


def test_plain_lines_when_not_a_terminal(
    service: respx.MockRouter, images: list[Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """
    Off a terminal, every event is one plain line, and a summary closes the run.
    """
    assert main(["upload", "--concurrency", "1", *map(str, images)]) == 0

    out = capsys.readouterr().out
    assert not ANSI.search(out)
    lines = out.splitlines()
    assert lines[0] == f"uploading {images[0]} ({images[0].stat().st_size} B)"
    assert lines[1] == (
        f"uploaded {images[0]}: media_id {FIRST_ID}, media_key 3_{FIRST_ID}, expires "
        + lines[1].split("expires ")[1]
    )
    assert lines[1].endswith(" UTC")
    assert len(lines) == 7
    assert lines[-1].startswith("3 uploaded (")


def test_plain_failure_says_what_to_do(
    service: respx.MockRouter, images: list[Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """
    A failed file gets a FAILED line with the library's advice, and the exit status is 1.
    """
    notes = images[0].with_name("notes.txt")
    notes.write_text("not an image")

    assert main(["upload", str(images[0]), str(notes)]) == 1

    out = capsys.readouterr().out
    assert (
        f"FAILED {notes}: Unsupported media: the bytes are not JPEG, PNG, GIF, WEBP, "
        "MP4 or MOV. Convert the file to one of those formats."
    ) in out.splitlines()
    assert "1 uploaded, 1 failed" in out


def test_service_errors_are_per_file(
    respx_mock: respx.MockRouter,
    credentials_env: None,
    images: list[Path],
    capsys: pytest.CaptureFixture[str],
) -> None:
    """
    A refused upload reports the service's reason and advice, exit 1, and no secret.
    """
    respx_mock.post(UPLOAD_URL).respond(
        401, json={"errors": [{"code": 32, "message": "Could not authenticate you."}]}
    )

    assert main(["upload", str(images[0])]) == 1

    out = capsys.readouterr().out
    assert "[32] Could not authenticate you." in out
    assert "Check the four OAuth credentials" in out
    assert not any(secret in out for secret in SECRETS[1:])


def test_options_reach_the_service(
    service: respx.MockRouter, images: list[Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """
    --category goes into every upload, and --alt-text into a metadata call per media.
    """
    argv = ["upload", "--category", "dm_image", "--alt-text", "A black square"]
    assert main([*argv, str(images[0])]) == 0

    upload = service.routes["upload"].calls.last.request
    assert b'name="media_category"\r\n\r\ndm_image\r\n' in upload.content
    assert upload.headers["authorization"].startswith("OAuth ")
    metadata = json.loads(service.routes["metadata"].calls.last.request.content)
    assert metadata == {
        "media_id": str(FIRST_ID),
        "alt_text": {"text": "A black square"},
    }


def test_concurrency_bounds_uploads_in_flight(
    service: respx.MockRouter, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """
    --concurrency N never lets more than N uploads start before one finishes.
    """
    for n in range(7):
        (tmp_path / f"{n}.png").write_bytes(tiny_png())
    in_flight: set[int] = set()
    peak = 0

    class Watcher(_report.Reporter):
        def started(self, job: _batch.Job) -> None:
            nonlocal peak
            in_flight.add(job.index)
            peak = max(peak, len(in_flight))

        def finished(self, outcome: _batch.Outcome, tally: _batch.Tally) -> None:
            in_flight.discard(outcome.job.index)

    monkeypatch.setattr(cli, "_reporter", lambda **_: Watcher())
    assert main(["upload", "--concurrency", "2", str(tmp_path)]) == 0
    assert peak == 2
    assert service.routes["upload"].call_count == 7


def test_terminal_gets_the_live_display(
    service: respx.MockRouter,
    images: list[Path],
    terminal: None,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """
    On a terminal, rich draws the progress and a tick or cross line per file.
    """
    notes = images[0].with_name("notes.txt")
    notes.write_text("not an image")
    missing = images[0].with_name("missing.png")

    assert main(["upload", str(missing), str(images[0]), str(notes)]) == 1

    out = capsys.readouterr().out
    assert f"✓ {images[0]}: media_id {FIRST_ID}" in out
    assert f"✗ {notes}: Unsupported media" in " ".join(out.split())
    assert f"✗ {missing}: Cannot read {str(missing)!r}: " in " ".join(out.split())
    assert "3/3 files 2 failed" in out
    assert "1 uploaded, 2 failed" in out


def test_json_on_a_terminal_prints_only_json(
    service: respx.MockRouter,
    images: list[Path],
    terminal: None,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """
    --json wins over the live display even on a terminal.
    """
    assert main(["upload", "--json", str(images[0])]) == 0
    [record] = json_lines(capsys.readouterr().out)
    assert record["media_id"] == str(FIRST_ID)


def test_terminal_without_rich_falls_back_to_plain(
    service: respx.MockRouter,
    images: list[Path],
    terminal: None,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """
    Without rich, a terminal gets plain lines plus a hint to install the cli extra.
    """
    monkeypatch.setitem(sys.modules, "twupload._cli._rich", None)

    assert main(["upload", str(images[0])]) == 0

    captured = capsys.readouterr()
    assert f"uploaded {images[0]}: media_id {FIRST_ID}" in captured.out
    assert "pip install 'twupload[cli]'" in captured.err


def test_interrupt_exits_130(
    credentials_env: None,
    images: list[Path],
    terminal: None,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """
    Ctrl-C (SIGINT) during uploads stops the display and exits 130.
    """

    async def interrupted(*args: object, **kwargs: object) -> _batch.Tally:
        signal.raise_signal(signal.SIGINT)
        await anyio.sleep_forever()
        raise AssertionError("unreachable")

    monkeypatch.setattr(cli, "run_jobs", interrupted)
    assert main(["upload", str(images[0])]) == 130
    assert "interrupted" in capsys.readouterr().err


def test_cancellation_escaping_the_runner_is_an_interrupt(
    service: respx.MockRouter,
    images: list[Path],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """
    A cancellation that escapes the event loop (Ctrl-C on Python 3.10) exits 130.
    """

    async def cancelled(*args: object, **kwargs: object) -> _batch.Tally:
        raise anyio.get_cancelled_exc_class()

    monkeypatch.setattr(cli, "run_jobs", cancelled)
    assert main(["upload", str(images[0])]) == 130
    assert "interrupted" in capsys.readouterr().err
    assert service.routes["upload"].call_count == 0


def test_python_dash_m(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """
    ``python -m twupload`` runs the same command line and exits with its status.
    """
    monkeypatch.setattr(sys, "argv", ["twupload", "--version"])
    # pytest rewrites the twupload package (it is a plugin), and runpy cannot
    # load code through pytest's rewriting importer.
    monkeypatch.setattr(
        sys,
        "meta_path",
        [
            finder
            for finder in sys.meta_path
            if "AssertionRewrit" not in type(finder).__name__
        ],
    )
    with pytest.raises(SystemExit) as exc_info:
        runpy.run_module("twupload", run_name="__main__")
    assert exc_info.value.code == 0
    assert capsys.readouterr().out.startswith("twupload ")
    # Imported under its own name, the module only defines; it runs nothing.
    monkeypatch.delitem(sys.modules, "twupload.__main__", raising=False)
    importlib.import_module("twupload.__main__")
    assert capsys.readouterr().out == ""


# Reporters and helpers


def make_job(label: str = "clip.mp4", size: int = 1000) -> _batch.Job:
    """
    A job for a file that need not exist.
    """
    return _batch.Job(0, Path(label), size, label)


def test_rich_reporter_follows_retries_and_processing() -> None:
    """
    The live display copes with bytes going backwards (a retry) and with processing.
    """
    out = io.StringIO()
    reporter = _rich.RichReporter(Console(file=out, width=120), echo=False)
    job = make_job()
    tally = _batch.Tally(files=1)
    reporter.start([job])
    reporter.started(job)
    reporter.progressed(job, 600, 1000)
    reporter.progressed(job, 200, 1000)
    reporter.processing(job, ProcessingInfo("in_progress", progress_percent=40))
    reporter.processing(job, ProcessingInfo("pending"))
    tally.failed = 1
    reporter.finished(
        _batch.Outcome(job, None, InvalidMediaError("[bold]nope[/]")), tally
    )
    reporter.stop()
    reporter.summarize(tally)
    text = out.getvalue()
    assert "✗ clip.mp4: [bold]nope[/]" in text
    assert "1/1 files 1 failed" in text
    assert "0 uploaded, 1 failed" in text


def test_plain_reporter_prints_processing() -> None:
    """
    Plain output has a line per processing update, with the percentage when known.
    """
    out = io.StringIO()
    reporter = _report.PlainReporter(out)
    job = make_job()
    reporter.processing(job, ProcessingInfo("in_progress", progress_percent=40))
    reporter.processing(job, ProcessingInfo("pending"))
    assert out.getvalue().splitlines() == [
        "processing clip.mp4: in_progress 40%",
        "processing clip.mp4: pending",
    ]


def test_json_record_without_optional_fields() -> None:
    """
    A result without size or expiry still gives every field: the file size, a null.
    """
    result = UploadResult(
        media_id=7,
        media_id_string="7",
        media_key=None,
        size=None,
        expires_after_secs=None,
        received_at=dt.datetime.now(dt.timezone.utc),
    )
    record = _report.outcome_record(_batch.Outcome(make_job(), result, None))
    assert record == {
        "path": "clip.mp4",
        "ok": True,
        "media_id": "7",
        "media_key": None,
        "size": 1000,
        "expires_at": None,
    }
    assert _report.result_text(result) == "media_id 7, expires -"


@pytest.mark.parametrize(
    ("size", "text"),
    [
        (0, "0 B"),
        (999, "999 B"),
        (1000, "1.0 kB"),
        (1_400_000, "1.4 MB"),
        (3 * 10**9, "3.0 GB"),
        (5 * 10**15, "5000.0 TB"),
    ],
)
def test_human_size(size: int, text: str) -> None:
    """
    Sizes read in decimal units with one decimal.
    """
    assert _report.human_size(size) == text


def test_plain_table() -> None:
    """
    Plain tables align left-justified columns under a dashed rule.
    """
    assert _report.table(("a", "long header"), [("wide cell", "x")]) == (
        "a          long header\n---------  -----------\nwide cell  x"
    )


def test_shorten_keeps_the_file_name() -> None:
    """
    Long labels lose their start, never the file name.
    """
    assert _rich.shorten("short.png") == "short.png"
    long = "/very/long/directory/" * 3 + "photo.png"
    assert _rich.shorten(long) == "…" + long[-31:]
    assert len(_rich.shorten(long)) == _rich.LABEL_WIDTH
    assert _rich.shorten(long, 10) == "…photo.png"
    assert _rich.shorten(long, 1) == "…"


def test_progress_layout_fits_every_width() -> None:
    """
    A progress row is never wider than the terminal; statistics go before the label.
    """
    for width in range(1, 300):
        layout = _rich.fit_progress(width)
        assert layout.width <= width
        assert 1 <= layout.label <= _rich.LABEL_WIDTH + 2
    everything = ("bar", "percent", "bytes", "speed", "remaining")
    expected = {
        250: (34, everything, 40),
        100: (33, everything, 26),
        80: (23, everything, 16),
        60: (19, ("bar", "percent", "bytes", "remaining"), 12),
        40: (20, ("bar", "percent"), 14),
        30: (25, ("percent",), None),
        20: (20, (), None),
        10: (10, (), None),
    }
    for width, (label, names, bar) in expected.items():
        layout = _rich.fit_progress(width)
        assert layout.label == label
        assert tuple(name for name, _ in layout.columns) == names
        assert dict(layout.columns).get("bar") == bar


@pytest.mark.parametrize("columns", [12, 30, 40, 60, 80, 100, 200])
def test_progress_rows_fit_the_terminal(columns: int) -> None:
    """
    Every row of the live display is one line of at most the terminal's width.
    """
    reporter = _rich.RichReporter(Console(file=io.StringIO(), width=columns))
    jobs = [
        _batch.Job(0, Path("a"), 10**6, "/very/long/directory/" * 2 + "holiday.png"),
        _batch.Job(1, Path("b"), 2000, "b.png"),
    ]
    reporter.start(jobs)
    for job in jobs:
        reporter.started(job)
    reporter.progressed(jobs[0], 250_000, 10**6)
    reporter.processing(jobs[1], ProcessingInfo("in_progress", progress_percent=40))
    progress = reporter._progress
    screen = Console(file=io.StringIO(), width=columns)
    with screen.capture() as capture:
        screen.print(progress.make_tasks_table(progress.tasks))
    reporter.stop()

    lines = capture.get().splitlines()
    assert len(lines) == 3
    assert max(map(len, lines)) <= columns
    assert lines[0].startswith("0/2 files")
    assert ("holiday.png" in lines[1]) == (columns >= 30)
    assert ("processing 40%" in lines[2]) == (columns >= 30)
    assert ("0.2/1.0 MB" in lines[0]) == (columns >= 60)


@pytest.mark.parametrize(("columns", "as_table"), [(39, True), (38, False)])
def test_rich_results_are_a_table_only_when_it_fits(
    columns: int, as_table: bool
) -> None:
    """
    Results form a table only if every cell fits whole; else a block per row.
    """
    out = io.StringIO()
    reporter = _rich.RichReporter(Console(file=out, width=columns))
    rows = [("[b]photo[/b]-1.png", "1900000000000000001"), ("c.png", "7")]

    reporter.show_table(("File", "Media id"), rows, title="Results")

    lines = [line.rstrip() for line in out.getvalue().splitlines()]
    if as_table:
        assert lines == [
            "Results",
            "File                Media id",
            "─" * 39,
            "[b]photo[/b]-1.png  1900000000000000001",
            "c.png               7",
        ]
    else:
        assert lines == [
            "Results",
            "[b]photo[/b]-1.png",
            "  Media id  1900000000000000001",
            "c.png",
            "  Media id  7",
        ]


def png_chunks(data: bytes) -> Iterator[tuple[bytes, bytes]]:
    """
    Walk a PNG's chunks, checking each CRC.
    """
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    position = 8
    while position < len(data):
        (length,) = struct.unpack(">I", data[position : position + 4])
        kind = data[position + 4 : position + 8]
        body = data[position + 8 : position + 8 + length]
        (crc,) = struct.unpack(
            ">I", data[position + 8 + length : position + 12 + length]
        )
        assert crc == zlib.crc32(kind + body)
        yield kind, body
        position += 12 + length


def test_samples_are_valid_images(tmp_path: Path) -> None:
    """
    The demo's PNGs decode to their declared size, and its JPEG is framed correctly.
    """
    paths = _samples.write_samples(tmp_path)
    assert len(paths) == 6
    for path in paths:
        data = path.read_bytes()
        if path.suffix == ".jpg":
            assert data.startswith(b"\xff\xd8\xff\xe0")
            assert data.endswith(b"\xff\xd9")
            sof = data.index(b"\xff\xc0")
            assert struct.unpack(">HH", data[sof + 5 : sof + 9]) == (96, 128)
            continue
        chunks = dict(png_chunks(data))
        width, height = struct.unpack(">II", chunks[b"IHDR"][:8])
        assert len(zlib.decompress(chunks[b"IDAT"])) == height * (1 + 3 * width)
        assert b"IEND" in chunks
    sizes = [path.stat().st_size for path in paths]
    assert len(set(sizes)) == 6
    assert max(sizes) < 1_000_000


def test_jpeg_stuffs_ff_bytes() -> None:
    """
    Entropy bytes of 0xFF get a stuffed zero, and equal neighbours a bare zero difference.
    """
    data = _samples.jpeg_tiles([[255, 0, 255, 0, 255, 255, 255, 0]])
    entropy = data[data.index(b"\xff\xda") + 10 : -2]
    assert b"\xff" in entropy
    assert all(entropy[i + 1] == 0 for i in range(len(entropy)) if entropy[i] == 0xFF)


# The emulator and the demo


def test_emulator_prints_credentials_that_work(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    images: list[Path],
) -> None:
    """
    Pasting the emulator's export lines is enough to upload (no --base-url); Ctrl-C exits 0.
    """
    seen: dict[str, object] = {}

    def upload_then_interrupt() -> None:
        out = capsys.readouterr().out
        env = {**os.environ, "NO_PROXY": "127.0.0.1", "no_proxy": "127.0.0.1"}
        for name, value in re.findall(r"^export (\w+)=(.+)$", out, re.MULTILINE):
            env[name] = shlex.split(value)[0]
        assert env["TWUPLOAD_BASE_URL"].startswith("http://127.0.0.1:")
        assert env["TWUPLOAD_BEARER_TOKEN"]
        v1_env = {k: v for k, v in env.items() if k != "TWUPLOAD_BEARER_TOKEN"}
        # In another process, as from the other shell the banner talks about:
        # with every line pasted (so v2 with the token), then without the token.
        for name, environment in (("v2", env), ("v1.1", v1_env)):
            seen[name] = subprocess.run(  # noqa: S603 - this interpreter
                [sys.executable, "-m", "twupload", "upload", "--json", str(images[0])],
                env=environment,
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "_wait_for_interrupt", upload_then_interrupt)
    assert main(["emulator"]) == 0

    for name in ("v2", "v1.1"):
        upload = seen[name]
        assert isinstance(upload, subprocess.CompletedProcess)
        assert upload.returncode == 0, upload.stderr
        [record] = json_lines(upload.stdout)
        assert record["ok"] is True
    assert capsys.readouterr().out == "# Emulator stopped.\n"


def test_emulator_on_a_busy_port_exits_1(capsys: pytest.CaptureFixture[str]) -> None:
    """
    A port that is taken is reported with what to do instead, exit 1.
    """
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(["emulator", "--port", str(port)]) == 1
    err = capsys.readouterr().err
    assert f"Cannot start the emulator on port {port}" in err
    assert "--port" in err


def test_wait_for_interrupt_sleeps_until_ctrl_c(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """
    The foreground wait is a sleep that only Ctrl-C ends.
    """
    naps: list[float] = []

    def sleep(seconds: float) -> None:
        naps.append(seconds)
        if len(naps) == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(cli, "time", types.SimpleNamespace(sleep=sleep))
    with pytest.raises(KeyboardInterrupt):
        cli._wait_for_interrupt()
    assert naps == [3600, 3600]


def test_emulator_dependencies_missing(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """
    Without the emulator's packages, demo and emulator say how to install them, exit 2.
    """
    monkeypatch.setitem(sys.modules, "twupload.testing._server", None)
    assert main(["demo"]) == 2
    assert main(["emulator"]) == 2
    err = capsys.readouterr().err
    assert err.count("pip install 'twupload[cli]'") == 2


def test_demo(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """
    The demo uploads its six images to an emulator and tables their ids, exit 0.
    """
    # A proxy from the environment must not capture the emulator's traffic.
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    monkeypatch.setenv("ALL_PROXY", "http://127.0.0.1:9")
    assert main(["demo"]) == 0

    out = capsys.readouterr().out
    assert not ANSI.search(out)
    assert "A local emulator is running at http://127.0.0.1:" in out
    uploaded = re.findall(r"^uploaded (\S+): media_id (\d+)", out, re.MULTILINE)
    assert sorted(name for name, _ in uploaded) == [
        name for name, _ in _samples.SAMPLES
    ]
    table = out[out.index("Uploaded to the emulator") :].splitlines()
    assert table[1].split() == [
        "File",
        "Size",
        "Media",
        "id",
        "Media",
        "key",
        "Expires",
    ]
    rows = [line.split() for line in table[3:9]]
    assert [row[0] for row in rows] == [name for name, _ in _samples.SAMPLES]
    assert {row[3] for row in rows} == {media_id for _, media_id in uploaded}
    assert all(row[-1] == "UTC" for row in rows)
    advice = out[out.index("Next:") :]
    assert "twupload emulator" in advice
    assert "TWUPLOAD_BASE_URL" in advice
    assert "--base-url" not in advice  # the emulator's exports make it unneeded


def test_demo_on_a_terminal(terminal: None, capsys: pytest.CaptureFixture[str]) -> None:
    """
    On a terminal, the demo shows the live display and a rich table of six rows.
    """
    assert main(["demo"]) == 0
    out = capsys.readouterr().out
    assert "6/6 files" in out
    assert "Uploaded to the emulator" in out
    assert sum(name in out for name, _ in _samples.SAMPLES) == 6
    assert "✓" not in out  # the table replaces the per-file lines


def spy_on_runs(monkeypatch: pytest.MonkeyPatch) -> list[_batch.Tally]:
    """
    Collect the tally of every run the command line makes.
    """
    tallies: list[_batch.Tally] = []
    run = cli._run

    def spy(*args: Any, **kwargs: Any) -> _batch.Tally:
        tally = run(*args, **kwargs)
        tallies.append(tally)
        return tally

    monkeypatch.setattr(cli, "_run", spy)
    return tallies


@pytest.mark.parametrize(
    ("columns", "as_table"), [(60, False), (80, False), (100, True)]
)
def test_demo_on_a_terminal_never_cuts_ids(
    columns: int,
    as_table: bool,
    terminal: None,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """
    Media ids, keys and expiry times come out whole: a table if it fits, else a list.

    The progress display fits too: its last frame is one line, byte counts and all.
    """
    monkeypatch.setenv("COLUMNS", str(columns))
    tallies = spy_on_runs(monkeypatch)

    assert main(["demo"]) == 0

    out = capsys.readouterr().out
    lines = out.splitlines()
    assert max(map(len, lines)) <= columns
    assert "…" not in out
    [overall] = [line for line in lines if line.startswith("6/6 files ")]
    assert " 100% 1.4/1.4 MB " in overall
    [tally] = tallies
    assert tally.outcomes is not None
    outcomes = sorted(tally.outcomes, key=lambda outcome: outcome.job.index)
    assert len(outcomes) == 6
    table = lines[lines.index("Uploaded to the emulator") + 1 :]
    if as_table:
        assert table[0].split() == [
            "File",
            "Size",
            "Media",
            "id",
            "Media",
            "key",
            "Expires",
        ]
    for outcome in outcomes:
        result = outcome.result
        assert result is not None
        assert result.media_key is not None
        facts = [
            _report.human_size(outcome.job.size),
            result.media_id_string,
            result.media_key,
            _report.human_time(result.expires_at),
        ]
        if as_table:
            [row] = [line for line in table if line.startswith(f"{outcome.job.label} ")]
            assert re.split(r"\s{2,}", row.strip()) == [outcome.job.label, *facts]
        else:
            start = table.index(outcome.job.label)
            assert table[start + 1 : start + 5] == [
                f"  {header:<9}  {fact}"
                for header, fact in zip(cli.DEMO_HEADERS[1:], facts, strict=True)
            ]
    # The closing words fit in 80 columns, and only wrap when narrower.
    assert all(line in lines for line in cli.DEMO_NEXT) == (columns >= 80)


def test_demo_failure_asks_for_a_report(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """
    If a demo upload fails, the demo exits 1, shows no empty table, and asks for a report.
    """

    def broken_samples(directory: Path) -> list[Path]:
        path = directory / "broken.png"
        path.write_bytes(b"not a png")
        return [path]

    monkeypatch.setattr(cli, "write_samples", broken_samples)
    assert main(["demo"]) == 1
    out = capsys.readouterr().out
    assert "FAILED broken.png: Unsupported media" in out
    assert "Uploaded to the emulator" not in out
    assert "please report them" in out


def test_demo_as_a_process() -> None:
    """
    ``python -m twupload demo`` runs end to end in a fresh process and exits 0.
    """
    completed = subprocess.run(
        [sys.executable, "-m", "twupload", "demo"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    assert completed.stderr == ""
    assert "Uploaded to the emulator" in completed.stdout
    assert (
        len(re.findall(r"^0\d-\S+\.(?:png|jpg) ", completed.stdout, re.MULTILINE)) == 6
    )


def run_in_a_terminal(argv: list[str], columns: int) -> tuple[int, str]:
    """
    Run ``python -m twupload *argv*`` on a pseudo-terminal *columns* wide.

    Returns the exit status and what the terminal received, without escape
    sequences and with carriage returns as line ends.
    """
    import fcntl  # noqa: PLC0415 - POSIX only
    import pty  # noqa: PLC0415
    import termios  # noqa: PLC0415

    controller, terminal = pty.openpty()
    fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", 24, columns, 0, 0))
    env = {
        name: value
        for name, value in os.environ.items()
        if name not in {"COLUMNS", "LINES", "TERM", "TTY_COMPATIBLE", "TTY_INTERACTIVE"}
    }
    with subprocess.Popen(  # noqa: S603 - this interpreter, arguments from the tests
        [sys.executable, "-m", "twupload", *argv],
        stdin=terminal,
        stdout=terminal,
        stderr=terminal,
        env={**env, "TERM": "xterm-256color"},
    ) as process:
        os.close(terminal)
        received = bytearray()
        while True:
            ready, _, _ = select.select([controller], [], [], 60)
            assert ready, "no output for 60 s"
            try:
                data = os.read(controller, 65536)
            except OSError:  # EIO: the process closed the terminal
                break
            if not data:
                break
            received += data
        status = process.wait(timeout=60)
    os.close(controller)
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", received.decode())
    return status, text.replace("\r\n", "\n").replace("\r", "\n")


@pytest.mark.skipif(sys.platform == "win32", reason="pseudo-terminals are POSIX")
@pytest.mark.parametrize(
    ("columns", "result"),
    [
        # A list: each media's facts on lines of their own.
        (80, r"Media id +(\d+)\n  Media key +(\S+)\n  Expires +(.+)\n"),
        # A table: a row per media.
        (100, r"(\d+)  +(\S+)  +(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC) *\n"),
    ],
)
def test_demo_in_a_real_terminal(columns: int, result: str) -> None:
    """
    On a real terminal, progress rows never wrap, and ids, keys and times come whole.
    """
    status, text = run_in_a_terminal(["demo"], columns)

    assert status == 0, text
    assert "…" not in text
    lines = text.splitlines()
    assert max(map(len, lines)) <= columns
    # Every line the live display drew is the overall row or a file's row;
    # a wrapped row would leave a line of its overflow, indented further.
    start = lines.index("Uploading 6 generated images (1.4 MB), 3 at a time:")
    end = next(n for n, line in enumerate(lines) if line.startswith("6 uploaded ("))
    drawn = [line for line in lines[start + 1 : end] if line.strip()]
    assert drawn
    assert all(re.match(r"\d/6 files |  \d\d-\S+\.(png|jpg) ", line) for line in drawn)
    # Each media key is its media id with the image prefix, in full.
    results = re.findall(result, text)
    assert len(results) == 6
    for media_id, key, expires in results:
        assert len(media_id) >= 18
        assert key == f"3_{media_id}"
        assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", expires)


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT is POSIX")
def test_emulator_stops_on_ctrl_c() -> None:
    """
    ``twupload emulator`` in the foreground stops cleanly on SIGINT with exit 0.
    """
    with subprocess.Popen(
        [sys.executable, "-m", "twupload", "emulator"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as process:
        assert process.stdout is not None
        assert process.stderr is not None
        # The banner is printed once the server listens, all at once.
        banner = [process.stdout.readline() for _ in range(12)]
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=30) == 0, process.stderr.read()
        rest = process.stdout.read()
    assert banner[0].startswith("# twupload emulator listening on http://127.0.0.1:")
    url = banner[0].split()[5]
    assert sum(line.startswith("export TWUPLOAD_") for line in banner) == 6
    assert sum(line.startswith("export TWUPLOAD_BEARER_TOKEN=") for line in banner) == 1
    assert all(line.startswith(("#", "export ")) for line in banner)
    assert f"export TWUPLOAD_BASE_URL={url}\n" in banner
    assert banner[-1].startswith("# Then: twupload upload PATH...")
    assert rest == "# Emulator stopped.\n"
    # The how-to shows the banner line for line.
    how_to = HOW_TO.read_text(encoding="utf-8")
    for line in banner[1:]:
        assert line.partition("=")[0] in how_to, line


# X API v2 and OAuth 2.0 user tokens


@pytest.fixture
def v2_env(twupload_emulator: Emulator, monkeypatch: pytest.MonkeyPatch) -> Emulator:
    """
    A running emulator as the base URL, with no credentials in the environment yet.
    """
    for name in OAuth1Credentials.ENV_VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TWUPLOAD_BASE_URL", twupload_emulator.url)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    monkeypatch.setenv("no_proxy", "127.0.0.1")
    return twupload_emulator


def set_token(
    monkeypatch: pytest.MonkeyPatch,
    emulator: Emulator,
    *,
    expires_in: int = 7200,
    refresh: bool = False,
) -> tuple[str, ...]:
    """
    Put an emulator-issued token into the environment; return its secrets.
    """
    issued = emulator.issue_token(refresh=refresh)
    monkeypatch.setenv("TWUPLOAD_BEARER_TOKEN", issued.access_token)
    # An expiry in the past makes the client refresh before its first request.
    # (The emulator's token stays valid: it keeps a grant's lifetime for every
    # refreshed token, so one issued with expires_in=0 would keep expiring.)
    monkeypatch.setenv("TWUPLOAD_TOKEN_EXPIRES_AT", str(time.time() + expires_in))
    if issued.refresh_token is not None:
        monkeypatch.setenv("TWUPLOAD_REFRESH_TOKEN", issued.refresh_token)
        monkeypatch.setenv("TWUPLOAD_CLIENT_ID", issued.client_id)
        return (issued.access_token, issued.refresh_token)
    return (issued.access_token,)


def set_oauth1(monkeypatch: pytest.MonkeyPatch, emulator: Emulator) -> None:
    credentials = emulator.credentials
    values = (credentials.consumer_key, *emulator_secrets(emulator))
    for name, value in zip(OAuth1Credentials.ENV_VARS, values, strict=True):
        monkeypatch.setenv(name, value)


def upload_records(emulator: Emulator) -> list[tuple[str, str | None]]:
    """
    The API version and authentication of each media request the emulator saw.
    """
    return [
        (record.api, record.auth)
        for record in emulator.requests
        if record.path != "/2/oauth2/token"
    ]


def test_a_bearer_token_picks_v2(
    v2_env: Emulator,
    monkeypatch: pytest.MonkeyPatch,
    images: list[Path],
    capsys: pytest.CaptureFixture[str],
) -> None:
    """
    With TWUPLOAD_BEARER_TOKEN set, `upload` speaks v2 with it; --json is unchanged.
    """
    secrets = set_token(monkeypatch, v2_env)
    set_oauth1(monkeypatch, v2_env)  # the token wins under auto

    assert main(["upload", "--json", *map(str, images[:2])]) == 0

    captured = capsys.readouterr()
    records = json_lines(captured.out)
    assert [record["ok"] for record in records] == [True, True]
    assert set(records[0]) == {
        "path",
        "ok",
        "media_id",
        "media_key",
        "size",
        "expires_at",
    }
    assert sorted(int(record["media_id"]) for record in records) == sorted(v2_env.media)
    assert set(upload_records(v2_env)) == {("2", "bearer")}
    assert captured.err == ""
    assert not any(s in captured.out for s in (*secrets, *emulator_secrets(v2_env)))


@pytest.mark.parametrize("setting", ["option", "environment"])
def test_api_2_with_oauth1(
    setting: str,
    v2_env: Emulator,
    monkeypatch: pytest.MonkeyPatch,
    images: list[Path],
    capsys: pytest.CaptureFixture[str],
) -> None:
    """
    --api 2 (or TWUPLOAD_API=2) with OAuth 1.0a keys uploads to v2, signed with them.
    """
    set_oauth1(monkeypatch, v2_env)
    argv = ["upload", str(images[0])]
    if setting == "option":
        argv[1:1] = ["--api", "2"]
    else:
        monkeypatch.setenv("TWUPLOAD_API", "2")

    assert main(argv) == 0

    assert capsys.readouterr().out.splitlines()[-1].startswith("1 uploaded (")
    assert upload_records(v2_env) == [("2", "oauth1")]


def test_oauth1_alone_stays_on_v1_1(
    v2_env: Emulator, monkeypatch: pytest.MonkeyPatch, images: list[Path]
) -> None:
    """
    Without a bearer token, auto keeps v1.1, as before; --api 1.1 ignores a token.
    """
    set_oauth1(monkeypatch, v2_env)
    assert main(["upload", str(images[0])]) == 0
    set_token(monkeypatch, v2_env)
    assert main(["upload", "--api", "1.1", str(images[1])]) == 0
    assert upload_records(v2_env) == [("1.1", "oauth1"), ("1.1", "oauth1")]


@pytest.mark.parametrize(
    ("env", "argv", "complaint"),
    [
        ({}, [], "Or, for the v2 API, set TWUPLOAD_BEARER_TOKEN"),
        (
            {"TWUPLOAD_BEARER_TOKEN": "tok-s3cr3t"},
            ["--api", "1.1"],
            (
                "The v1.1 API takes OAuth 1.0a only; the OAuth 2.0 token in "
                "TWUPLOAD_BEARER_TOKEN works with --api 2"
            ),
        ),
        (
            {
                "TWUPLOAD_BEARER_TOKEN": "tok-s3cr3t",
                "TWUPLOAD_REFRESH_TOKEN": "r-s3cr3t",
            },
            [],
            "Refreshing the token in TWUPLOAD_BEARER_TOKEN needs TWUPLOAD_CLIENT_ID",
        ),
        (
            {
                "TWUPLOAD_BEARER_TOKEN": "tok-s3cr3t",
                "TWUPLOAD_TOKEN_EXPIRES_AT": "soon",
            },
            [],
            "TWUPLOAD_TOKEN_EXPIRES_AT must be the access token's expiry in Unix",
        ),
        (
            {"TWUPLOAD_BEARER_TOKEN": "tok-s3cr3t", "TWUPLOAD_TOKEN_EXPIRES_AT": "inf"},
            [],
            "TWUPLOAD_TOKEN_EXPIRES_AT must be",
        ),
        (
            {
                "TWUPLOAD_BEARER_TOKEN": "tok-s3cr3t",
                "TWUPLOAD_TOKEN_EXPIRES_AT": "1e300",
            },
            [],
            "The token in TWUPLOAD_BEARER_TOKEN cannot be used: BearerToken expires_at",
        ),
        (
            {"TWUPLOAD_API": "3"},
            [],
            "TWUPLOAD_API must be one of auto, 1.1, 2, not '3'.",
        ),
        ({}, ["--api", "3"], "argument --api: invalid choice"),
    ],
    ids=[
        "nothing",
        "token on v1.1",
        "refresh without client id",
        "expiry not a number",
        "expiry infinite",
        "expiry out of range",
        "bad TWUPLOAD_API",
        "bad --api",
    ],
)
def test_oauth2_configuration_errors_exit_2(
    env: dict[str, str],
    *,
    argv: list[str],
    complaint: str,
    monkeypatch: pytest.MonkeyPatch,
    images: list[Path],
    capsys: pytest.CaptureFixture[str],
) -> None:
    """
    Missing or unusable OAuth 2.0 settings exit 2, naming variables, never values.
    """
    for name in OAuth1Credentials.ENV_VARS:
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)

    assert main(["upload", *argv, str(images[0])]) == 2

    captured = capsys.readouterr()
    assert captured.out == ""
    assert complaint in captured.err
    assert "s3cr3t" not in captured.err


def test_a_refresh_without_a_token_file_is_announced_not_shown(
    v2_env: Emulator,
    monkeypatch: pytest.MonkeyPatch,
    images: list[Path],
    capsys: pytest.CaptureFixture[str],
) -> None:
    """
    An expired token is refreshed once; stderr says so, and how to keep the next ones.
    """
    secrets = set_token(monkeypatch, v2_env, expires_in=-10, refresh=True)

    assert main(["upload", "--json", *map(str, images)]) == 0

    captured = capsys.readouterr()
    assert [record["ok"] for record in json_lines(captured.out)] == [True] * 3
    assert v2_env.stats.token_requests == 1
    assert captured.err == (
        "twupload: note: the access token was refreshed once, and X retired the "
        "refresh token from TWUPLOAD_BEARER_TOKEN. The new tokens are not shown. To "
        "keep them, run with --token-file FILE: twupload writes each new token there "
        "(readable by you only) and reads it next time. Otherwise, authorize again "
        "before the next run.\n"
    )
    assert captured.err in HOW_TO.read_text(encoding="utf-8")  # shown verbatim
    assert not any(s in captured.out + captured.err for s in secrets)


def test_a_token_file_keeps_refreshed_tokens(
    v2_env: Emulator,
    monkeypatch: pytest.MonkeyPatch,
    images: list[Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """
    --token-file gets each new token (mode 600) and is read by the next run.
    """
    secrets = set_token(monkeypatch, v2_env, expires_in=-10, refresh=True)
    token_file = tmp_path / "tokens.json"

    argv = ["upload", "--token-file", str(token_file), str(images[0])]
    assert main(argv) == 0

    err = capsys.readouterr().err
    assert err == (
        "twupload: note: the access token was refreshed once, and X retired the "
        f"refresh token; the new tokens are saved in {str(token_file)!r}, which the "
        "next run with --token-file reads.\n"
    )
    saved = json.loads(token_file.read_text())
    assert set(saved) == {"access_token", "refresh_token", "expires_at"}
    assert saved["refresh_token"] not in secrets
    assert saved["expires_at"] > v2_env.issue_token().expires_at - 60
    if os.name == "posix":
        assert token_file.stat().st_mode & 0o777 == 0o600
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []

    # The next run reads the file: the spent token in the environment is not used.
    monkeypatch.setenv("TWUPLOAD_BEARER_TOKEN", "spent")
    assert main(argv) == 0
    assert capsys.readouterr().err == ""
    assert v2_env.stats.token_requests == 1
    assert upload_records(v2_env)[-1] == ("2", "bearer")


def test_a_token_file_that_cannot_be_written(
    v2_env: Emulator,
    monkeypatch: pytest.MonkeyPatch,
    images: list[Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """
    When the new token cannot be saved, the upload still succeeds and stderr warns.
    """
    set_token(monkeypatch, v2_env, expires_in=-10, refresh=True)
    token_file = tmp_path / "missing-directory" / "tokens.json"

    assert main(["upload", "--token-file", str(token_file), str(images[0])]) == 0

    err = capsys.readouterr().err
    assert err.startswith(
        "twupload: warning: the access token was refreshed once, and X retired the "
        f"refresh token, but the new tokens could not be written to {str(token_file)!r}: "
    )
    assert err.endswith("Authorize again before the next run.\n")


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (None, "cannot be read: "),
        ("{", "is not JSON"),
        ("[]", 'has no "access_token" string'),
        ('{"access_token": 5}', 'has no "access_token" string'),
    ],
    ids=["a directory", "not JSON", "not an object", "no token"],
)
def test_a_bad_token_file_exits_2(
    content: str | None,
    problem: str,
    images: list[Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """
    A token file that cannot be used exits 2, saying what it should hold.
    """
    token_file = tmp_path / "tokens.json"
    if content is None:
        token_file.mkdir()
    else:
        token_file.write_text(content)

    assert main(["upload", "--token-file", str(token_file), str(images[0])]) == 2

    err = capsys.readouterr().err
    assert f"The token file {str(token_file)!r} {problem}" in err
    assert '"access_token", "refresh_token" and "expires_at"' in err


def test_a_token_file_with_a_bad_value_exits_2(
    monkeypatch: pytest.MonkeyPatch,
    images: list[Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """
    A token file whose refresh token is no string is refused, without its values.
    """
    token_file = tmp_path / "tokens.json"
    token_file.write_text('{"access_token": "tok-s3cr3t", "refresh_token": 5}')
    monkeypatch.setenv("TWUPLOAD_CLIENT_ID", "client")
    assert main(["upload", "--token-file", str(token_file), str(images[0])]) == 2
    err = capsys.readouterr().err
    assert f"The token in the token file {str(token_file)!r} cannot be used: " in err
    assert "s3cr3t" not in err


def test_token_keeper_counts_refreshes(tmp_path: Path) -> None:
    """
    No refresh, no note; several refreshes are counted, and the file holds the last.
    """
    keeper = _credentials.TokenKeeper("TWUPLOAD_BEARER_TOKEN", tmp_path / "t.json")
    assert keeper.notes() == []
    for number in (1, 2):
        keeper.keep(
            BearerToken(f"tok-{number}", refresh_token=f"r-{number}", client_id="c")
        )
    [note] = keeper.notes()
    assert note.startswith("note: the access token was refreshed 2 times, ")
    assert json.loads((tmp_path / "t.json").read_text()) == {
        "access_token": "tok-2",
        "refresh_token": "r-2",
        "expires_at": None,
    }


def test_write_token_file_leaves_nothing_behind_on_failure(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """
    A failed write removes its temporary file and leaves the old file as it was.
    """
    target = tmp_path / "t.json"
    target.write_text("old")

    def broken(*args: object, **kwargs: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(_credentials.json, "dump", broken)
    with pytest.raises(OSError, match="disk full"):
        _credentials.write_token_file(target, BearerToken("tok"))
    assert [p.name for p in tmp_path.iterdir()] == ["t.json"]
    assert target.read_text() == "old"


def test_demo_on_v1_1(capsys: pytest.CaptureFixture[str]) -> None:
    """
    `demo --api 1.1` uploads with OAuth 1.0a to the v1.1 endpoints.
    """
    assert main(["demo", "--api", "1.1"]) == 0
    out = capsys.readouterr().out
    assert "It speaks X API v1.1; twupload uses OAuth 1.0a keys." in out
    assert "Uploaded to the emulator" in out


def test_demo_speaks_v2_by_default(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """
    The demo uses v2 with an OAuth 2.0 token the emulator issued, all requests bearer.
    """
    seen: list[Emulator] = []
    start = cli._start_emulator

    def spy(port: int) -> Emulator:
        emulator = start(port)
        seen.append(emulator)
        return emulator

    monkeypatch.setattr(cli, "_start_emulator", spy)
    assert main(["demo"]) == 0
    out = capsys.readouterr().out
    assert "It speaks X API v2; twupload uses an OAuth 2.0 user token" in out
    [emulator] = seen
    records = [(r.api, r.auth) for r in emulator.requests]
    assert len(records) >= 12  # six uploads and six alt texts
    assert set(records) == {("2", "bearer")}
