"""
twupload: fast, streamed, rate-limit-aware async uploads to the X media API.
"""

from ._batch import BatchIterator
from ._client import AsyncMediaClient
from ._credentials import BearerToken, OAuth1Credentials
from ._errors import (
    APIError,
    AuthenticationError,
    ConfigurationError,
    InvalidMediaError,
    MediaProcessingError,
    RateLimitError,
    RateLimitStoreError,
    ResumeExpiredError,
    TransportError,
    TwUploadError,
    UploadTimeoutError,
    UsageCapError,
)
from ._media import MediaCategory
from ._ratelimit import MemoryRateLimitStore, RateLimitScope, RateLimitStore
from ._redis_store import RedisRateLimitStore
from ._results import (
    BatchItem,
    ImageInfo,
    ProcessingError,
    ProcessingInfo,
    RateLimit,
    ResumeState,
    UploadResult,
    VideoInfo,
)
from ._types import MediaSource, ProgressCallback


__all__ = [
    "APIError",
    "AsyncMediaClient",
    "AuthenticationError",
    "BatchItem",
    "BatchIterator",
    "BearerToken",
    "ConfigurationError",
    "ImageInfo",
    "InvalidMediaError",
    "MediaCategory",
    "MediaProcessingError",
    "MediaSource",
    "MemoryRateLimitStore",
    "OAuth1Credentials",
    "ProcessingError",
    "ProcessingInfo",
    "ProgressCallback",
    "RateLimit",
    "RateLimitError",
    "RateLimitScope",
    "RateLimitStore",
    "RateLimitStoreError",
    "RedisRateLimitStore",
    "ResumeExpiredError",
    "ResumeState",
    "TransportError",
    "TwUploadError",
    "UploadResult",
    "UploadTimeoutError",
    "UsageCapError",
    "VideoInfo",
]

# Public names say twupload.X in reprs and tracebacks, not twupload._errors.X.
for _name in __all__:
    # Classes only: the type aliases belong to typing and collections.abc.
    if getattr(_public := globals()[_name], "__module__", "").startswith("twupload."):
        _public.__module__ = "twupload"
del _name, _public


def __getattr__(name: str) -> str:
    if name == "__version__":
        from importlib.metadata import version  # noqa: PLC0415

        return version("twupload")

    raise AttributeError(f"module 'twupload' has no attribute {name!r}")
