"""`workers.plain_settings` reads a setting plainly only where `Settings` gives the same."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from workers.plain_settings import PLAIN, VARIABLES, CommandSettings, plain_settings
from workers.settings import _ALIASES, Settings, SettingsError, get_settings

# Texts tried in every variable: bounds of each number field and around them, other
# number forms, choices, URLs, names, keys.
TEXTS = ["0", "-0", "1", "-1", "2", "4", "5", "9", "10", "14", "17", "18", "20", "24", "59",
         "60", "61", "100", "101", "168", "169", "400", "401", "600", "601", "1198", "1199",
         "3600", "3601", "65535", "65536", "86400", "86401", "0.0", "0.05", "0.5", "1.0",
         "1.5", "60.5", "600.5", "007", "1_0", "1e3", "inf", "nan", " 5", "5 ", "+5", "0x10",
         "live", "simulated", "Live", "redis://h:1/2", "redis://h:x/0", "redis://h/db",
         "unix:///tmp/r.sock", "http://h", "llmr", "a:b.c-d_e", "bad ns!", "k" * 32,
         "k" * 31, f"{'k' * 32},{'j' * 32}", f"{'k' * 32},short", "a=0.1", "text"]


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for variables, _, _ in VARIABLES.values():
        for variable in variables:
            monkeypatch.delenv(variable, raising=False)
    get_settings.cache_clear()
    yield monkeypatch
    get_settings.cache_clear()


def test_every_variable_of_the_settings_is_listed_with_its_default() -> None:
    assert set(VARIABLES) == set(Settings.model_fields)
    for name, (variables, default, _) in VARIABLES.items():
        assert variables == _ALIASES[name], name
        field = Settings.model_fields[name]
        assert default == field.get_default(call_default_factory=True), name
    assert set(PLAIN) <= set(VARIABLES)


def plain_value(name: str, value: object) -> object:
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    if isinstance(value, tuple) and value and isinstance(value[0], SecretStr):
        return ",".join(k.get_secret_value() for k in value)
    return value


@pytest.mark.parametrize("name", sorted(VARIABLES))
def test_a_value_read_plainly_is_the_one_the_settings_make(clean_env: pytest.MonkeyPatch,
                                                           name: str) -> None:
    variables, _, check = VARIABLES[name]
    for variable in variables:
        for text in TEXTS:
            clean_env.setenv(variable, text)
            plain = plain_settings()
            try:
                settings = Settings()
            except Exception:  # refused: plainly refused too
                assert plain is None, (variable, text)
                continue
            if plain is None:
                continue  # the settings decide (a value not read plainly)
            assert plain == CommandSettings(**{field: getattr(settings, field) for field in PLAIN})
            read = check(text)
            if name not in ("broker_url", "result_backend"):  # derived when unset
                assert read == plain_value(name, getattr(settings, name)), (variable, text)
        clean_env.delenv(variable)


def test_the_lease_rule_across_two_variables(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("LLM_ROUTER_BROKER_LEASE_SECONDS", "17")  # below 3 x 4 + 6
    assert plain_settings() is None
    with pytest.raises(SettingsError):
        get_settings()
    clean_env.setenv("LLM_ROUTER_BROKER_LEASE_RENEW_SECONDS", "3")
    assert plain_settings() == CommandSettings(**{field: getattr(Settings(), field)
                                              for field in PLAIN})


def test_an_empty_variable_is_unset(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("LLM_ROUTER_NAMESPACE", "")
    clean_env.setenv("GEMINI_API_KEY", "")
    clean_env.setenv("GOOGLE_API_KEY", "g")
    assert plain_settings() == CommandSettings(**{field: getattr(Settings(), field)
                                              for field in PLAIN})
