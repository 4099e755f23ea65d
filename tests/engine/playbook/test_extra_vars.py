import pytest

from engine.errors import ExtraVarsError
from engine.playbook.extra_vars import parse_extra_vars


def test_key_value_pairs_are_strings_and_later_values_win() -> None:
    assert parse_extra_vars(["a=1 b='two words'", "a=3"]) == {"a": "3", "b": "two words"}


def test_a_file_given_with_at_is_read_as_yaml(tmp_path) -> None:
    (tmp_path / "vars.yml").write_text("port: 8000\nname: x\n")
    assert parse_extra_vars([f"@{tmp_path / 'vars.yml'}"]) == {"port": 8000, "name": "x"}


def test_a_json_mapping_is_accepted() -> None:
    assert parse_extra_vars(['{"port": 8000}']) == {"port": 8000}


def test_a_value_without_equals_sign_is_an_error() -> None:
    with pytest.raises(ExtraVarsError, match="expected key=value"):
        parse_extra_vars(["port"])


def test_a_malformed_pair_names_its_key_and_never_echoes_its_value() -> None:
    with pytest.raises(ExtraVarsError, match="'db-password'") as raised:
        parse_extra_vars(["db-password=Sx9-value"])
    assert "Sx9-value" not in str(raised.value)


def test_an_unclosed_quote_is_an_error_that_does_not_echo_the_value() -> None:
    with pytest.raises(ExtraVarsError, match="no closing quotation") as raised:
        parse_extra_vars(["db_password='Sx9-value"])
    assert "Sx9-value" not in str(raised.value)


def test_invalid_json_is_an_error_with_its_position_and_without_the_text() -> None:
    with pytest.raises(ExtraVarsError, match=r"-e:1:\d+: invalid YAML/JSON") as raised:
        parse_extra_vars(['{"db_password": "Sx9-value" x}'])
    assert "Sx9-value" not in str(raised.value)
