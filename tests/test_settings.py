"""One Settings object for every entry point, and one wording of validation errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import BaseModel, Field, ValidationError

import bitgaram.api
import bitgaram.api.core.config
from bitgaram.config import Settings, env_name
from bitgaram.errors import ConfigError, field_path, validation_message
from bitgaram.store import resolve_url


def test_the_api_and_the_store_share_one_settings_class() -> None:
    assert bitgaram.api.Settings is Settings
    assert bitgaram.api.core.config.Settings is Settings


def test_every_field_is_read_from_its_variable() -> None:
    env = {
        "BITGARAM_DATABASE_URL": "postgresql://root@127.0.0.1/test",
        "BITGARAM_DATABASE_SCHEMA": "park",
        "BITGARAM_SITE": "sites/park.toml",
        "BITGARAM_SITE_ID": "park",
        "BITGARAM_VIEW_CACHE_SECONDS": "2.5",
        "BITGARAM_COOKIE_SECURE": "true",
        "BITGARAM_LOGIN_MAX_FAILURES": "",  # empty: unset
        "OTHER": "ignored",
    }
    settings = Settings.from_env(env)
    assert settings.site_file == Path("sites/park.toml")
    assert (settings.site_id, settings.view_cache_seconds, settings.cookie_secure) == (
        "park",
        2.5,
        True,
    )
    assert settings.login_max_failures == Settings().login_max_failures
    assert resolve_url(None, settings) == "postgresql://root@127.0.0.1/test"
    assert Settings.from_env({}) == Settings()
    with pytest.raises(ValidationError):
        Settings(database_url="x", colour="red")  # type: ignore[call-arg]


def test_a_bad_variable_is_named() -> None:
    with pytest.raises(ConfigError, match=r"^BITGARAM_SESSION_HOURS: .*greater than 0"):
        Settings.from_env({"BITGARAM_SESSION_HOURS": "-1"})
    assert env_name("site_file") == "BITGARAM_SITE"


class _Part(BaseModel):
    kwh: float = Field(gt=0)


class _Doc(BaseModel):
    parts: list[_Part]
    name: str


def test_validation_message_names_source_and_field_path_one_line_each() -> None:
    with pytest.raises(ValidationError) as caught:
        _Doc.model_validate({"parts": [{"kwh": 1}, {"kwh": -2}]})
    message = validation_message(caught.value, "park.toml", prefix="collect")
    assert message.splitlines() == [
        "park.toml: collect.parts[1].kwh: Input should be greater than 0",
        "park.toml: collect.name: Field required",
    ]
    renamed = validation_message(caught.value, "", name=str.upper)
    assert renamed.splitlines()[1] == "NAME: Field required"
    assert field_path(()) == "(root)"
