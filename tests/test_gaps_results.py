"""
Result records: the corners a mutation run found untested.
"""

from __future__ import annotations

import datetime as dt
import json

from twupload import ResumeState, UploadResult


UTC = dt.timezone.utc
T0 = dt.datetime(2026, 1, 1, tzinfo=UTC)


def test_a_numeric_media_id_is_read_when_the_string_is_missing() -> None:
    """
    A body with ``media_id`` but no ``media_id_string`` still names the media.
    """
    result = UploadResult.from_payload({"media_id": 710511363345354753}, received_at=T0)
    assert result.media_id == 710511363345354753
    assert result.media_id_string == "710511363345354753"


def test_a_resume_state_is_expired_from_its_expiry_instant_on() -> None:
    """
    At exactly expires_at the service has discarded the media.
    """
    state = ResumeState(1, "1.1", 10, (), 100, T0, "video/mp4")
    assert state.is_expired(T0)
    assert not state.is_expired(T0 - dt.timedelta(microseconds=1))


def test_a_saved_resume_state_is_compact_versioned_json() -> None:
    """
    to_json writes format version 1, with no blanks, in a stable field order.
    """
    state = ResumeState(
        media_id=1860000000000000001,
        api="2",
        segment_size=1024,
        acknowledged=(0, 2),
        total_bytes=3000,
        expires_at=T0,
        media_type="video/mp4",
    )
    text = state.to_json()
    assert text == (
        '{"version":1,"media_id":"1860000000000000001","api":"2",'
        '"segment_size":1024,"acknowledged":[0,2],"total_bytes":3000,'
        '"expires_at":"2026-01-01T00:00:00+00:00","media_type":"video/mp4"}'
    )
    assert json.loads(text)["version"] == 1
