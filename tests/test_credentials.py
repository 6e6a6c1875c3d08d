"""
Credentials: construction, the environment, and redaction.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import pickle

import pytest

from twupload import BearerToken, ConfigurationError, OAuth1Credentials

from samples import SECRETS


def test_repr_and_str_show_only_the_consumer_key(creds: OAuth1Credentials) -> None:
    """
    Secrets appear as '***' in repr and str; the consumer key is shown.
    """
    for text in (repr(creds), str(creds), f"{creds}", str([creds])):
        assert "ck-test" in text
        assert "'***'" in text
        for secret in SECRETS:
            assert secret not in text


def test_bearer_token_is_redacted() -> None:
    """
    A bearer token never appears in repr or str.
    """
    token = BearerToken("tok-SECRET")
    assert "tok-SECRET" not in repr(token)
    assert "tok-SECRET" not in str(token)
    assert token.token == "tok-SECRET"


def test_credentials_are_frozen_and_comparable(creds: OAuth1Credentials) -> None:
    """
    Credentials are immutable values with equality and hashing.
    """
    with pytest.raises(dataclasses.FrozenInstanceError):
        creds.consumer_key = "x"  # type: ignore[misc]
    same = OAuth1Credentials(
        creds.consumer_key,
        creds.consumer_secret,
        creds.access_token,
        creds.access_token_secret,
    )
    assert same == creds
    assert hash(same) == hash(creds)
    assert pickle.loads(pickle.dumps(creds)) == creds


def test_from_env_reads_the_four_variables() -> None:
    """
    from_env builds credentials from the TWUPLOAD_* variables.
    """
    env = {
        "TWUPLOAD_CONSUMER_KEY": "k",
        "TWUPLOAD_CONSUMER_SECRET": "s",
        "TWUPLOAD_ACCESS_TOKEN": "t",
        "TWUPLOAD_ACCESS_TOKEN_SECRET": "ts",
    }
    assert OAuth1Credentials.from_env(env) == OAuth1Credentials("k", "s", "t", "ts")


def test_from_env_uses_os_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    """
    Without an explicit mapping, from_env reads the process environment.
    """
    for name, value in zip(OAuth1Credentials.ENV_VARS, "abcd", strict=True):
        monkeypatch.setenv(name, value)
    assert OAuth1Credentials.from_env().access_token == "c"


def test_from_env_names_missing_variables_without_values() -> None:
    """
    Missing or empty variables are all named; present values never appear.
    """
    env = {
        "TWUPLOAD_CONSUMER_KEY": "visible-key",
        "TWUPLOAD_ACCESS_TOKEN": "SECRET-tok",
        "TWUPLOAD_ACCESS_TOKEN_SECRET": "",
    }
    with pytest.raises(ConfigurationError) as info:
        OAuth1Credentials.from_env(env)
    message = str(info.value)
    assert "TWUPLOAD_CONSUMER_SECRET" in message
    assert "TWUPLOAD_ACCESS_TOKEN_SECRET" in message
    assert "TWUPLOAD_CONSUMER_KEY" not in message
    assert "SECRET-tok" not in message


@pytest.mark.parametrize("field", ["consumer_key", "consumer_secret", "access_token"])
def test_empty_values_are_refused(field: str) -> None:
    """
    An empty credential is a ConfigurationError naming the field.
    """
    values = {
        "consumer_key": "k",
        "consumer_secret": "s",
        "access_token": "t",
        "access_token_secret": "ts",
        field: "",
    }
    with pytest.raises(ConfigurationError, match=field):
        OAuth1Credentials(**values)


def test_empty_bearer_token_is_refused() -> None:
    """
    An empty bearer token is a ConfigurationError.
    """
    with pytest.raises(ConfigurationError):
        BearerToken("")


# BearerToken: refresh fields, expiry, redaction.

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
REFRESHABLE = {
    "refresh_token": "rt-SECRET-4",
    "client_id": "client-id-visible",
    "client_secret": "client-SECRET-5",
}
BEARER_SECRETS = ("tok-SECRET", "rt-SECRET-4", "client-SECRET-5")


def test_refreshable_bearer_token_redacts_every_secret() -> None:
    """
    The access token, refresh token and client secret show as '***'; the client id and expiry show.
    """
    token = BearerToken("tok-SECRET", expires_at=T0, **REFRESHABLE)
    for text in (repr(token), str(token), f"{token}", str([token])):
        assert "client-id-visible" in text
        assert "2026" in text
        for secret in BEARER_SECRETS:
            assert secret not in text
    assert repr(token) == (
        "BearerToken(token='***', refresh_token='***', client_id='client-id-visible', "
        "client_secret='***', expires_at=datetime.datetime(2026, 1, 1, 0, 0, "
        "tzinfo=datetime.timezone.utc))"
    )
    assert repr(BearerToken("tok-SECRET")) == (
        "BearerToken(token='***', refresh_token=None, client_id=None, "
        "client_secret=None, expires_at=None)"
    )


def test_bearer_token_fields_default_to_none() -> None:
    """
    A plain access token has no refresh token, client or expiry.
    """
    token = BearerToken("t")
    assert (token.refresh_token, token.client_id, token.client_secret) == (None,) * 3
    assert token.expires_at is None


@pytest.mark.parametrize(
    "expires_at",
    [
        T0,
        T0.astimezone(dt.timezone(dt.timedelta(hours=-5))),
        T0.timestamp(),
        int(T0.timestamp()),
    ],
    ids=["utc", "other-zone", "float", "int"],
)
def test_expires_at_is_normalized_to_utc(expires_at: dt.datetime | float) -> None:
    """
    An aware datetime in any zone, or Unix seconds, is stored as the same UTC datetime.
    """
    token = BearerToken("t", expires_at=expires_at)
    assert token.expires_at == T0
    assert token.expires_at is not None
    assert token.expires_at.tzinfo is dt.timezone.utc
    assert token == BearerToken("t", expires_at=T0)


@pytest.mark.parametrize(
    "expires_at",
    [
        dt.datetime(2026, 1, 1),  # noqa: DTZ001 - naive on purpose
        True,
        "1767225600",
        dt.date(2026, 1, 1),
        math.nan,
        math.inf,
        1e20,
    ],
    ids=["naive", "bool", "str", "date", "nan", "inf", "year-10000"],
)
def test_bad_expires_at_is_refused(expires_at: object) -> None:
    """
    A naive datetime, or anything that is not a time, is a ConfigurationError.
    """
    with pytest.raises(ConfigurationError, match="expires_at must be"):
        BearerToken("tok-SECRET", expires_at=expires_at, **REFRESHABLE)  # type: ignore[arg-type]


def test_naive_expires_at_message_says_how_to_fix_it() -> None:
    """
    The message for a naive datetime names time zones and shows an aware alternative.
    """
    with pytest.raises(ConfigurationError, match="timezone-aware") as info:
        BearerToken("t", expires_at=dt.datetime(2026, 1, 1))  # noqa: DTZ001
    assert "timezone.utc" in str(info.value)


@pytest.mark.parametrize("field", ["refresh_token", "client_id", "client_secret"])
@pytest.mark.parametrize("value", ["", 42])
def test_optional_fields_must_be_non_empty_strings(field: str, value: object) -> None:
    """
    An empty or non-string refresh token, client id or secret is refused, by name.
    """
    values: dict[str, object] = {**REFRESHABLE, field: value}
    with pytest.raises(ConfigurationError, match=field) as info:
        BearerToken("tok-SECRET", **values)  # type: ignore[arg-type]
    for secret in BEARER_SECRETS:
        assert secret not in str(info.value)


@pytest.mark.parametrize(
    "values",
    [{"refresh_token": "rt-SECRET-4"}, {"client_secret": "client-SECRET-5"}],
    ids=["refresh_token", "client_secret"],
)
def test_refresh_needs_a_client_id(values: dict[str, str]) -> None:
    """
    A refresh token or client secret without the client id is refused up front.
    """
    with pytest.raises(ConfigurationError, match="client_id") as info:
        BearerToken(
            "tok-SECRET",
            refresh_token=values.get("refresh_token"),
            client_secret=values.get("client_secret"),
        )
    for secret in BEARER_SECRETS:
        assert secret not in str(info.value)


def test_public_client_token_needs_no_secret() -> None:
    """
    A public client's token has a refresh token and client id, and no secret.
    """
    token = BearerToken("t", refresh_token="r", client_id="c")
    assert token.client_secret is None


def test_bearer_token_is_a_frozen_hashable_picklable_value() -> None:
    """
    BearerToken is immutable, compares by value, pickles, and works with dataclasses.replace.
    """
    token = BearerToken("tok-SECRET", expires_at=T0, **REFRESHABLE)
    with pytest.raises(dataclasses.FrozenInstanceError):
        token.token = "x"  # type: ignore[misc]
    same = BearerToken("tok-SECRET", expires_at=T0.timestamp(), **REFRESHABLE)
    assert same == token
    assert hash(same) == hash(token)
    assert pickle.loads(pickle.dumps(token)) == token
    later = dataclasses.replace(token, expires_at=T0 + dt.timedelta(hours=2))
    assert later.expires_at == T0 + dt.timedelta(hours=2)
    assert later.refresh_token == token.refresh_token
    assert later != token
