"""
The ``twupload`` command line: upload files, run the local emulator, or try the demo.

Exit status: 0 when everything uploaded, 1 when some upload (or the emulator)
failed, 2 for usage and configuration errors (and no arguments at all), 130
when interrupted.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import tempfile
import time

from importlib.metadata import PackageNotFoundError
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio

from .. import (
    AsyncMediaClient,
    BearerToken,
    ConfigurationError,
    MediaCategory,
    OAuth1Credentials,
)
from ._batch import CommandError, Job, Tally, collect_jobs, run_jobs
from ._credentials import (
    API_CHOICES,
    API_ENV_VAR,
    BEARER_ENV_VARS,
    TOKEN_ENV_VAR,
    TokenKeeper,
    api_setting,
    choose,
)
from ._report import (
    JsonReporter,
    PlainReporter,
    Reporter,
    human_size,
    human_time,
)
from ._samples import write_samples


if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from ..testing import Emulator


__all__ = ["main"]

DEFAULT_BASE_URLS = {"1.1": "https://upload.twitter.com", "2": "https://api.x.com"}
DEFAULT_CONCURRENCY = 4
MAX_ALT_TEXT = 1000  # the metadata endpoint's limit (API.md)
INSTALL_HINT = "pip install 'twupload[cli]'"
DEMO_CONCURRENCY = 3
# The token `twupload emulator` issues: what uploads need, valid for 30 days.
EMULATOR_TOKEN_SCOPES = ("media.write",)
EMULATOR_TOKEN_DAYS = 30
# What `twupload` alone prints (on stderr, exit 2); at most 80 columns wide.
SHORT_USAGE = """\
usage: twupload COMMAND [OPTIONS]

  twupload demo              try it: upload sample images to a local emulator,
                             with no account and no network
  twupload upload PATH...    upload media files to X
  twupload emulator          run a local stand-in for the upload service

Run `twupload --help` for more, and `twupload COMMAND --help` for options.
"""


def main(argv: Sequence[str] | None = None) -> int:
    """
    Run the command line on *argv* (default: ``sys.argv[1:]``) and return the exit status.
    """
    if not (sys.argv[1:] if argv is None else argv):
        sys.stderr.write(SHORT_USAGE)
        return 2
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help and --version (0), or a usage error (2)
        return int(exc.code or 0)

    command: Callable[[argparse.Namespace], int] = args.command
    try:
        return command(args)
    except CommandError as exc:
        _error(str(exc))
        return exc.status
    except KeyboardInterrupt:
        sys.stderr.write("twupload: interrupted; uploads in flight were cancelled.\n")
        return 130


def _error(message: str) -> None:
    sys.stderr.write(f"twupload: error: {message}\n")


def _say(text: str) -> None:
    sys.stdout.write(f"{text}\n")
    sys.stdout.flush()


def _version() -> str:
    try:
        from .. import __version__  # noqa: PLC0415 - read from the installed metadata

    except PackageNotFoundError:  # running from a checkout that was never installed
        return "(version unknown: not installed)"
    return str(__version__)


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number >= 1, not {text!r}")
    return value


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 0 <= value <= 65535:  # noqa: PLR2004
        raise argparse.ArgumentTypeError(
            f"must be a port number from 0 (any free port) to 65535, not {text!r}"
        )
    return value


def _alt_text(text: str) -> str:
    if len(text) > MAX_ALT_TEXT:
        raise argparse.ArgumentTypeError(
            f"is {len(text)} characters; the service accepts at most {MAX_ALT_TEXT}"
        )
    return text


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="twupload",
        description="Upload images, GIFs and videos to X (Twitter), concurrently.",
        epilog="New here? Run `twupload demo`: it needs no account and no network.",
    )
    parser.add_argument("--version", action="version", version=f"twupload {_version()}")
    commands = parser.add_subparsers(title="commands", metavar="COMMAND", required=True)

    upload = commands.add_parser(
        "upload",
        help="upload media files (or the media files in directories)",
        description=(
            "Upload media files with a progress display. Credentials come from "
            "the environment: an OAuth 2.0 user token with the media.write scope ("
            + ", ".join(BEARER_ENV_VARS)
            + "; v2 only), or OAuth 1.0a ("
            + ", ".join(OAuth1Credentials.ENV_VARS)
            + "; v1.1 and v2)."
        ),
        epilog="Exit status: 0 if every file uploaded, 1 if some failed (a path "
        "that cannot be read counts as failed; the others are still uploaded), 2 "
        "for usage errors.",
    )
    upload.add_argument(
        "paths",
        nargs="+",
        metavar="PATH",
        help="a media file, or a directory: its media files are uploaded, sorted by "
        "name (not recursive; hidden files skipped)",
    )
    upload.add_argument(
        "--category",
        choices=[category.value for category in MediaCategory],
        metavar="C",
        help="media_category for every file: %(choices)s (default: tweet_image, "
        "tweet_gif or tweet_video, from the file's bytes)",
    )
    upload.add_argument(
        "--alt-text",
        type=_alt_text,
        metavar="T",
        help=f"alt text for every file (images and GIFs; up to {MAX_ALT_TEXT} characters)",
    )
    upload.add_argument(
        "--concurrency",
        type=_positive_int,
        default=DEFAULT_CONCURRENCY,
        metavar="N",
        help="uploads in flight at once (default: %(default)s)",
    )
    upload.add_argument(
        "--json",
        action="store_true",
        help="print one JSON object per file on stdout, as each finishes (failed "
        "ones too, with their error), and no progress display",
    )
    upload.add_argument(
        "--api",
        choices=API_CHOICES,
        metavar="V",
        help=f"X API version: %(choices)s (default: ${API_ENV_VAR} if set, else "
        f"auto: 2 when {TOKEN_ENV_VAR} is set, else 1.1)",
    )
    upload.add_argument(
        "--token-file",
        type=Path,
        metavar="FILE",
        help="read the OAuth 2.0 token from FILE when it exists (instead of "
        f"{TOKEN_ENV_VAR}), and write every refreshed token there, readable by "
        "you only; without it, refreshed tokens are not kept (never printed)",
    )
    upload.add_argument(
        "--base-url",
        metavar="URL",
        help="the upload service (default: $TWUPLOAD_BASE_URL if set, else "
        f"{DEFAULT_BASE_URLS['1.1']} for v1.1 and {DEFAULT_BASE_URLS['2']} for "
        "v2); `twupload emulator` prints a local one",
    )
    upload.set_defaults(command=_upload)

    emulator = commands.add_parser(
        "emulator",
        help="run the local emulator of the upload service until Ctrl-C",
        description="Run the local emulator (X API v1.1 and v2) in the foreground "
        "and print its URL and the throwaway credentials it accepts: OAuth 1.0a "
        f"keys, and an OAuth 2.0 token valid for {EMULATOR_TOKEN_DAYS} days.",
    )
    emulator.add_argument(
        "--port",
        type=_port,
        default=0,
        metavar="P",
        help="port on 127.0.0.1 (default: any free port)",
    )
    emulator.set_defaults(command=_emulator)

    demo = commands.add_parser(
        "demo",
        help="upload generated sample images to a local emulator (no account needed)",
        description="Start a local emulator, upload a few generated images to it "
        "with the progress display, and show what came back.",
    )
    demo.add_argument(
        "--api",
        choices=("1.1", "2"),
        default="2",
        metavar="V",
        help="X API version: %(choices)s (default: %(default)s, with an OAuth 2.0 "
        "token the emulator issues; 1.1 uses OAuth 1.0a)",
    )
    demo.set_defaults(command=_demo)
    return parser


# upload


def _upload(args: argparse.Namespace) -> int:
    api = api_setting(args.api, os.environ)
    choice = choose(api, os.environ, args.token_file)
    keeper: TokenKeeper | None = None
    if isinstance(choice.credentials, BearerToken):
        assert choice.source is not None  # noqa: S101 - set with every bearer token
        keeper = TokenKeeper(choice.source, args.token_file)
    try:
        client = AsyncMediaClient(
            choice.credentials,
            api=choice.api,
            base_url=args.base_url,
            max_concurrency=args.concurrency,
            on_token_refresh=None if keeper is None else keeper.keep,
        )
    except ConfigurationError as exc:
        raise CommandError(str(exc)) from None

    # A path that cannot be uploaded is a failed job, reported with the rest.
    jobs = collect_jobs(args.paths, subtitles=args.category == "subtitles")
    reporter = _reporter(json_output=args.json)
    try:
        tally = _run(
            client,
            jobs,
            reporter,
            concurrency=args.concurrency,
            options={"media_category": args.category, "alt_text": args.alt_text},
        )
    finally:
        # After the run, so the notes never mix with the progress display.
        _tell_about_tokens(keeper)
    return 1 if tally.failed else 0


def _tell_about_tokens(keeper: TokenKeeper | None) -> None:
    """
    Say on stderr whether the token was refreshed, and where the new one is.
    """
    # A function of its own for coverage on Python 3.11 (see _demo_results).
    for note in [] if keeper is None else keeper.notes():
        sys.stderr.write(f"twupload: {note}\n")


def _is_terminal() -> bool:
    return sys.stdout.isatty()


def _reporter(*, json_output: bool = False, echo: bool = True) -> Reporter:
    if json_output:
        return JsonReporter(sys.stdout, sys.stderr)
    if _is_terminal():
        try:
            from ._rich import RichReporter, make_console  # noqa: PLC0415 - optional
        except ImportError:
            sys.stderr.write(
                f"twupload: for a live progress display, install rich: {INSTALL_HINT}\n"
            )
        else:
            return RichReporter(make_console(), echo=echo)
    return PlainReporter(sys.stdout)


def _run(
    client: AsyncMediaClient,
    jobs: Sequence[Job],
    reporter: Reporter,
    *,
    concurrency: int,
    options: dict[str, Any],
    keep_outcomes: bool = False,
) -> Tally:
    cancelled: list[type[BaseException]] = []

    async def run() -> Tally:
        cancelled.append(anyio.get_cancelled_exc_class())
        async with client:
            return await run_jobs(
                client,
                jobs,
                reporter=reporter,
                concurrency=concurrency,
                options=options,
                keep_outcomes=keep_outcomes,
            )

    reporter.start(jobs)
    try:
        tally = anyio.run(run)
    except BaseException as exc:
        # On Python 3.10, anyio's runner turns Ctrl-C into the main task's
        # cancellation (it needs Task.uncancel, new in 3.11) and lets that escape.
        if isinstance(exc, tuple(cancelled)):
            raise KeyboardInterrupt from None
        raise  # pragma: >=3.11 cover
    finally:
        reporter.stop()
    reporter.summarize(tally)
    return tally


# emulator


def _start_emulator(port: int) -> Emulator:
    try:
        from ..testing import Emulator  # noqa: PLC0415 - test support, loaded on demand

        emulator = Emulator(port=port)
        emulator.start()
    except ImportError as exc:
        raise CommandError(
            f"Cannot start the emulator: {exc}. For the command line, install: "
            f"{INSTALL_HINT}"
        ) from None
    except OSError as exc:
        where = f"port {port}" if port else "a free port"
        raise CommandError(
            f"Cannot start the emulator on {where}: {exc.strerror or exc}. "
            "Pick another port with --port, or 0 for any free port.",
            status=1,
        ) from None
    return emulator


def _wait_for_interrupt() -> None:
    # A sleep, not Event.wait(): only sleep wakes up for Ctrl-C on every platform.
    while True:
        time.sleep(3600)


def _emulator(args: argparse.Namespace) -> int:
    emulator = _start_emulator(args.port)
    try:
        credentials = emulator.credentials
        values = (
            credentials.consumer_key,
            credentials.consumer_secret,
            credentials.access_token,
            credentials.access_token_secret,
        )
        token = emulator.issue_token(
            EMULATOR_TOKEN_SCOPES,
            expires_in=EMULATOR_TOKEN_DAYS * 86400,
            refresh=False,
        )
        lines = [
            f"# twupload emulator listening on {emulator.url} (Ctrl-C to stop).",
            "# It serves X API v1.1 and v2. The throwaway credentials it accepts;",
            "# paste them into another shell. OAuth 1.0a (v1.1 and v2):",
            *(
                f"export {name}={shlex.quote(value)}"
                for name, value in zip(OAuth1Credentials.ENV_VARS, values, strict=True)
            ),
            (
                "# An OAuth 2.0 user token with media.write, valid for "
                f"{EMULATOR_TOKEN_DAYS} days (v2 only;"
            ),
            "# while it is set, `twupload upload` uses v2; unset it for v1.1):",
            f"export {TOKEN_ENV_VAR}={shlex.quote(token.access_token)}",
            f"export TWUPLOAD_BASE_URL={emulator.url}",
            "# Then: twupload upload PATH...  (or any program using AsyncMediaClient)",
        ]
        _say("\n".join(lines))
        _wait_for_interrupt()
    except KeyboardInterrupt:
        _say("# Emulator stopped.")
    finally:
        emulator.stop()
    return 0


# demo

DEMO_HEADERS = ("File", "Size", "Media id", "Media key", "Expires")
DEMO_ALT_TEXT = "A sample image generated by twupload demo."
# The demo's closing words; each line fits in 80 columns.
DEMO_NEXT = (
    "These media ids lived in the emulator, which has now stopped. Next:",
    "  twupload emulator        # a local service; paste the exports it prints",
    "  twupload upload PATH...  # then uploads go to it (TWUPLOAD_BASE_URL)",
    "                           # or, without TWUPLOAD_BASE_URL, to X with your keys",
)


def _demo(args: argparse.Namespace) -> int:
    with tempfile.TemporaryDirectory(prefix="twupload-demo-") as directory:
        paths = write_samples(Path(directory))
        jobs = [
            Job(index, path, path.stat().st_size, path.name)
            for index, path in enumerate(paths)
        ]
        emulator = _start_emulator(0)
        try:
            reporter = _reporter(echo=False)
            total = human_size(sum(job.size for job in jobs))
            reporter.say(
                "twupload demo: no account and no network needed.", style="bold"
            )
            reporter.say(f"A local emulator is running at {emulator.url}.")
            credentials: OAuth1Credentials | BearerToken
            if args.api == "2":
                credentials = emulator.issue_token(
                    EMULATOR_TOKEN_SCOPES, refresh=False
                ).bearer_token()
                reporter.say(
                    "It speaks X API v2; twupload uses an OAuth 2.0 user token "
                    "(media.write) it issued."
                )
            else:
                credentials = emulator.credentials
                reporter.say("It speaks X API v1.1; twupload uses OAuth 1.0a keys.")
            reporter.say(
                f"Uploading {len(jobs)} generated images ({total}), "
                f"{DEMO_CONCURRENCY} at a time:"
            )
            # No http_client: the one twupload creates reads no HTTP(S)_PROXY,
            # which could not reach this machine's 127.0.0.1 anyway.
            client = AsyncMediaClient(
                credentials,
                api=args.api,
                base_url=emulator.url,
                max_concurrency=DEMO_CONCURRENCY,
                max_retries=1,
                timeout=10.0,
            )
            tally = _run(
                client,
                jobs,
                reporter,
                concurrency=DEMO_CONCURRENCY,
                options={"media_category": "tweet_image", "alt_text": DEMO_ALT_TEXT},
                keep_outcomes=True,
            )
        finally:
            emulator.stop()
    return _demo_results(reporter, tally)


def _demo_results(reporter: Reporter, tally: Tally) -> int:
    """
    Show what the demo uploaded, and what to try next; return the exit status.
    """
    # A function of its own, not the end of _demo: on Python 3.11, coverage
    # loses the lines of a frame that ran network I/O under asyncio
    # (CPython #106749), and the gate counts every line on every Python.
    assert tally.outcomes is not None  # noqa: S101 - kept on request
    rows = [
        (
            outcome.job.label,
            human_size(outcome.job.size),
            outcome.result.media_id_string,
            outcome.result.media_key or "-",
            human_time(outcome.result.expires_at),
        )
        for outcome in sorted(tally.outcomes, key=lambda outcome: outcome.job.index)
        if outcome.result is not None
    ]
    if rows:
        reporter.say("")
        reporter.show_table(DEMO_HEADERS, rows, title="Uploaded to the emulator")
    reporter.say("")
    if tally.failed:
        reporter.say(
            "Some demo uploads failed; the messages above say why. If they do not "
            "help, please report them at https://github.com/twupload/twupload/issues.",
            style="bold red",
        )
        return 1
    reporter.say("\n".join(DEMO_NEXT))
    return 0
