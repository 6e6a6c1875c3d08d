"""
Result records: parsing, derived values, value semantics, resume state.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest

from twupload import BatchItem, ProcessingInfo, RateLimit, ResumeState, UploadResult


UTC = dt.timezone.utc
T0 = dt.datetime(2026, 1, 1, tzinfo=UTC)


def test_from_payload_full_v11_body() -> None:
    """
    Every documented field of a v1.1 response lands in the result.
    """
    result = UploadResult.from_payload(
        {
            "media_id": 710511363345354753,
            "media_id_string": "710511363345354753",
            "media_key": "3_710511363345354753",
            "size": 11065,
            "expires_after_secs": 86400,
            "image": {"image_type": "image/jpeg", "w": 800, "h": 320},
            "video": {"video_type": "video/mp4"},
            "processing_info": {
                "state": "in_progress",
                "check_after_secs": 5,
                "progress_percent": 40,
                "error": {"code": 1, "name": "InvalidMedia", "message": "bad"},
            },
        },
        received_at=T0,
    )
    assert result.media_id == 710511363345354753
    assert result.media_id_string == "710511363345354753"
    assert result.media_key == "3_710511363345354753"
    assert result.size == 11065
    assert result.image is not None
    assert (result.image.image_type, result.image.w, result.image.h) == (
        "image/jpeg",
        800,
        320,
    )
    assert result.video is not None
    assert result.video.video_type == "video/mp4"
    info = result.processing
    assert info is not None
    assert (info.state, info.check_after_secs, info.progress_percent) == (
        "in_progress",
        5,
        40,
    )
    assert info.error is not None
    assert (info.error.code, info.error.name, info.error.message) == (
        1,
        "InvalidMedia",
        "bad",
    )
    assert info.is_done


def test_from_payload_tolerates_missing_optional_fields() -> None:
    """
    A body with only an id (string) parses; everything optional is None.
    """
    result = UploadResult.from_payload({"id": "42"}, received_at=T0)
    assert result.media_id == 42
    assert result.media_id_string == "42"
    assert (result.media_key, result.size, result.expires_after_secs) == (
        None,
        None,
        None,
    )
    assert (result.image, result.video, result.processing) == (None, None, None)
    assert result.expires_at is None
    assert not result.is_expired()


def test_media_id_string_wins_over_a_float_rounded_number() -> None:
    """
    The string id is used, so ids beyond 2**53 survive JSON float rounding.
    """
    result = UploadResult.from_payload(
        {"media_id": 1.2345678901234568e18, "media_id_string": "1234567890123456789"},
        received_at=T0,
    )
    assert result.media_id == 1234567890123456789


@pytest.mark.parametrize(
    "body", [{}, {"media_id": "abc"}, {"media_id": None}, {"size": True, "media_id": 1}]
)
def test_from_payload_rejects_bodies_without_usable_id(body: dict[str, object]) -> None:
    """
    Bodies without a readable id (or with nonsense types) raise for the caller to map.
    """
    with pytest.raises((KeyError, TypeError, ValueError)):
        UploadResult.from_payload(body, received_at=T0)


def test_expiry_is_computed_from_received_at() -> None:
    """
    expires_at is received_at plus expires_after_secs, and is_expired flips there.
    """
    result = UploadResult(1, "1", None, None, 60, T0)
    assert result.expires_at == T0 + dt.timedelta(seconds=60)
    assert not result.is_expired(T0 + dt.timedelta(seconds=59))
    assert result.is_expired(T0 + dt.timedelta(seconds=60))
    assert result.is_expired()  # T0 is in the past


def test_results_are_frozen_hashable_values() -> None:
    """
    Equal results compare and hash equal; mutation is refused; slots hold the fields.
    """
    a = UploadResult(1, "1", None, 5, 60, T0)
    b = UploadResult(1, "1", None, 5, 60, T0)
    assert a == b
    assert len({a, b}) == 1
    with pytest.raises(dataclasses.FrozenInstanceError):
        a.size = 6  # type: ignore[misc]
    assert not hasattr(a, "__dict__")


def test_processing_info_states() -> None:
    """
    is_done is true for terminal states and for any reported error.
    """
    assert not ProcessingInfo("pending").is_done
    assert not ProcessingInfo("in_progress").is_done
    assert ProcessingInfo("succeeded").is_done
    assert ProcessingInfo("failed").is_done
    assert ProcessingInfo.from_payload({}).state == "pending"


def test_rate_limit_from_headers() -> None:
    """
    The three headers become a RateLimit with a UTC reset time; partial headers give None.
    """
    limit = RateLimit.from_headers(
        {
            "x-rate-limit-limit": "415",
            "x-rate-limit-remaining": "414",
            "x-rate-limit-reset": "1767225600",
        }
    )
    assert limit == RateLimit(415, 414, T0)
    assert RateLimit.from_headers({"x-rate-limit-limit": "1"}) is None
    assert (
        RateLimit.from_headers(
            {
                "x-rate-limit-limit": "1",
                "x-rate-limit-remaining": "x",
                "x-rate-limit-reset": "1",
            }
        )
        is None
    )


def test_resume_state_round_trips_through_json() -> None:
    """
    to_json/from_json preserve every field, including a huge media id.
    """
    state = ResumeState(
        media_id=1860000000000000001,
        api="1.1",
        segment_size=4 * 1024 * 1024,
        acknowledged=(0, 1, 2),
        total_bytes=20_000_000,
        expires_at=T0,
        media_type="video/mp4",
    )
    again = ResumeState.from_json(state.to_json())
    assert again == state
    assert again.segment_count == 5
    assert (
        ResumeState.from_json(
            dataclasses.replace(state, expires_at=None).to_json()
        ).expires_at
        is None
    )


@pytest.mark.parametrize("text", ["", "[]", "{}", '{"media_id": "x"}', "not json"])
def test_resume_state_rejects_foreign_text(text: str) -> None:
    """
    Text that is not a saved resume state is a ValueError saying so.
    """
    with pytest.raises(ValueError, match="resume state"):
        ResumeState.from_json(text)


def test_resume_state_expiry() -> None:
    """
    A state expires at expires_at; one without expiry never does.
    """
    state = ResumeState(1, "1.1", 10, (), 100, T0, "video/mp4")
    assert state.is_expired()
    assert not state.is_expired(T0 - dt.timedelta(seconds=1))
    assert not dataclasses.replace(state, expires_at=None).is_expired()


def test_batch_item_ok() -> None:
    """
    ok reflects whether the item carries an error.
    """
    assert BatchItem(0, "a", UploadResult(1, "1", None, None, None, T0), None).ok
    assert not BatchItem(1, "b", None, ValueError("x")).ok
