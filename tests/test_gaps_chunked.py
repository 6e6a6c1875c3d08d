"""
Chunked uploads: the corners a mutation run found untested.

Every error is caught outside ``async with AsyncMediaClient(...)``, as users write it.
"""

from __future__ import annotations

import time

from typing import TYPE_CHECKING

import pytest

from twupload import AsyncMediaClient

from fakes import FakeTime
from samples import mp4


if TYPE_CHECKING:
    from twupload.testing import Emulator


pytestmark = pytest.mark.anyio


class _Sealed(Exception):  # noqa: N818 - named for what it does, not what it is
    """
    An exception that refuses new attributes, as some libraries' do.
    """

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(name)


async def test_an_exception_refusing_attributes_leaves_without_a_resume_state(
    twupload_emulator: Emulator,
) -> None:
    """
    A callback's exception that cannot carry ``resume`` is raised as it is all the same.
    """
    emu = twupload_emulator
    fake = FakeTime(time.time())
    sealed = _Sealed("no attributes here")

    def on_progress(sent: int, total: int) -> None:
        raise sealed

    with pytest.raises(_Sealed) as info:
        async with AsyncMediaClient(
            emu.credentials, base_url=emu.url, clock=fake.clock, sleep=fake.sleep
        ) as client:
            await client.upload(mp4(), on_progress=on_progress)
    assert info.value is sealed
    assert not hasattr(info.value, "resume")
    assert emu.stats.by_command["INIT"] == 1


SEGMENT = 64 * 1024


class _Stop(Exception):  # noqa: N818 - the caller's own reason to stop
    pass


async def test_resuming_reports_progress_from_what_was_acknowledged(
    twupload_emulator: Emulator,
) -> None:
    """
    A resumed upload's progress starts at the acknowledged bytes and ends at the total.
    """
    emu = twupload_emulator
    emu.set_processing(check_after_secs=0)  # one step per STATUS: no waiting
    fake = FakeTime(time.time())
    data = mp4(4 * SEGMENT + 100)
    options = {
        "base_url": emu.url,
        "segment_bytes": SEGMENT,
        "max_segments_in_flight": 1,
        "clock": fake.clock,
        "sleep": fake.sleep,
    }

    def stop_in_the_third_segment(sent: int, total: int) -> None:
        if sent > 2 * SEGMENT:
            raise _Stop

    with pytest.raises(_Stop) as info:
        async with AsyncMediaClient(emu.credentials, **options) as client:
            await client.upload(data, on_progress=stop_in_the_third_segment)
    state = info.value.resume  # type: ignore[attr-defined]
    assert state.acknowledged == (0, 1)
    assert (state.media_type, state.total_bytes) == ("video/mp4", len(data))

    calls: list[tuple[int, int]] = []
    async with AsyncMediaClient(emu.credentials, **options) as client:
        result = await client.upload(
            data, resume=state, on_progress=lambda *call: calls.append(call)
        )
    assert result.media_id == state.media_id
    assert calls[0][0] > 2 * SEGMENT
    assert calls[-1] == (len(data), len(data))
    assert [sent for sent, _ in calls] == sorted({sent for sent, _ in calls})


async def test_a_last_segment_of_one_byte_still_completes_the_progress(
    twupload_emulator: Emulator,
) -> None:
    """
    Progress reaches the total even when the last APPEND carries a single byte.
    """
    emu = twupload_emulator
    emu.set_processing(check_after_secs=0)
    fake = FakeTime(time.time())
    data = mp4(2 * SEGMENT + 1)
    calls: list[tuple[int, int]] = []
    async with AsyncMediaClient(
        emu.credentials,
        base_url=emu.url,
        segment_bytes=SEGMENT,
        clock=fake.clock,
        sleep=fake.sleep,
    ) as client:
        await client.upload(data, on_progress=lambda *call: calls.append(call))
    assert calls[-1] == (len(data), len(data))
    assert emu.stats.by_command["APPEND"] == 3
