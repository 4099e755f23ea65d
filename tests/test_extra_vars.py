import pytest

from engine.extra_vars import ExtraVarsError, parse_extra_vars


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
