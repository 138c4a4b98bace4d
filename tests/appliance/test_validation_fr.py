"""Refused values are explained in plain French, never with a regular expression (#12)."""

from __future__ import annotations

import pytest

from appliance.config import ConfigError, parse_config


def test_a_bad_uai_is_explained_in_words_and_names_the_key() -> None:
    with pytest.raises(ConfigError) as err:
        parse_config('[site]\nschools = [{ uai = "75001", name = "x" }]\n', "preau.toml")
    message = str(err.value)
    assert "preau.toml: site.schools.0.uai:" in message
    assert "7 chiffres suivis d'une lettre majuscule" in message
    assert "\\d" not in message
    assert "should" not in message


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[web]\nport = 0\n", "web.port: doit valoir au moins 1"),
        ('[web]\nport = "huit"\n', "web.port: un nombre entier est attendu"),
        ('[scheduler]\nclass_hours = ["8h-17h"]\n', "une plage horaire HH:MM-HH:MM"),
        ('[web]\nlanguage = "de"\n', "web.language: une de ces valeurs est attendue"),
        ('[site]\nname = ""\n', "site.name: ne peut pas être vide"),
    ],
)
def test_config_problems_read_as_french(text: str, expected: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_config(text, "preau.toml")
    assert expected in str(err.value)
    assert "Input should" not in str(err.value)
