"""
Credentials: construction, the environment, and redaction.
"""

from __future__ import annotations

import dataclasses
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
