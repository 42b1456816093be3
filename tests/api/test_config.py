"""API settings from the environment."""

from __future__ import annotations

import pytest

from bitgaram.api import Settings
from bitgaram.errors import ConfigError


def test_settings_from_env() -> None:
    settings = Settings.from_env(
        {"BITGARAM_SITE_ID": "park", "BITGARAM_BENCHMARK_MIN_GROUP": "7", "OTHER": "x"}
    )
    assert settings.site_id == "park"
    assert settings.benchmark_min_group == 7
    assert Settings.from_env({}) == Settings()


def test_bad_setting_names_the_variable() -> None:
    with pytest.raises(ConfigError, match="BITGARAM_BENCHMARK_MIN_GROUP"):
        Settings.from_env({"BITGARAM_BENCHMARK_MIN_GROUP": "many"})
