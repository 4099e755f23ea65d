from collections.abc import Iterator
from contextlib import contextmanager
from unittest import mock

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.errors import TemplateProblem
from engine.playbook.errors import describe_pydantic_error
from engine.playbook.render import resolve_variables
from engine.secrets.redact import MASK, Redactor, is_secret_key

# Secrets as people choose them: printable text with regex metacharacters, quotes, spaces,
# `*` (the mask's own character) and URL punctuation; at least 4 characters (shorter values
# are not masked: see MIN_SECRET_LENGTH).
SECRETS = st.text(
    alphabet=st.characters(codec="utf-8", categories=["L", "N", "P", "S", "Zs"])
    | st.sampled_from("*.+?[](){}|^$\\'\"@:/=&"),
    min_size=4,
    max_size=40,
)
SURROUNDINGS = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=40)
SECRET_NAMES = st.sampled_from(
    [
        "db_password",
        "password",
        "ansible_become_password",
        "ansible_ssh_pass",
        "JWT_SECRET",
        "api_token",
        "apiToken",
        "api_key",
        "apiKey",
        "ssh_key",
        "key",
        "client_secret",
    ]
)
QUERY_SECRET_NAMES = st.sampled_from(
    ["key", "token", "password", "api_key", "access_token", "sig", "X-Amz-Signature"]
)
URL_SAFE = st.text(st.sampled_from("abcXYZ019-._~%!$()*+,;"), min_size=1, max_size=30)


@contextmanager
def fresh_redactor() -> Iterator[Redactor]:
    """The process-wide redactor replaced for one test: what it registers stays there."""
    redactor = Redactor()
    with mock.patch("engine.secrets.redact.REDACTOR", redactor):
        yield redactor


def test_passwords_in_urls_are_masked() -> None:
    assert Redactor().text("postgresql://app:s3cret@db:5432/app") == "postgresql://app:***@db:5432/app"


def test_passwords_in_key_value_dsns_are_masked() -> None:
    assert (
        Redactor().text("host=db user=app password=s3cret dbname=app")
        == "host=db user=app password=*** dbname=app"
    )


def test_a_quoted_dsn_password_is_masked_whole() -> None:
    masked = Redactor().text("host=db password='my secret' dbname=app")
    assert masked == "host=db password=*** dbname=app"
    assert "secret" not in masked


def test_values_under_secret_keys_are_masked() -> None:
    data = Redactor().data({"JWT_SECRET": "abc", "api_token": "t", "password_env": "PGPASS", "port": 5})
    assert data == {"JWT_SECRET": "***", "api_token": "***", "password_env": "PGPASS", "port": 5}


def test_an_api_key_is_masked_as_a_mapping_value_and_as_a_parameter() -> None:
    redactor = Redactor()
    assert redactor.data({"api_key": "k-123"}) == {"api_key": MASK}
    assert (
        redactor.text("curl https://api.example/v1?api_key=k-123")
        == "curl https://api.example/v1?api_key=***"
    )


@pytest.mark.parametrize(
    "name",
    [
        "password",
        "db_password",
        "ansible_become_password",
        "ansible_ssh_pass",
        "JWT_SECRET",
        "GITHUB_TOKEN",
        "api_key",
        "apiKey",
        "ssh_key",
        "key",
        "private_key",
        "sig",
    ],
)
def test_secret_sounding_names_are_secret(name: str) -> None:
    assert is_secret_key(name)


@pytest.mark.parametrize(
    "name", ["password_env", "token_file", "monkey", "keyboard", "port", "host", "passage", "PWD"]
)
def test_other_names_and_names_of_where_a_secret_is_are_not(name: str) -> None:
    assert not is_secret_key(name)


def test_registered_secrets_are_masked_wherever_they_appear() -> None:
    redactor = Redactor()
    redactor.add_secret("hunter22")
    assert redactor.data({"reason": ["auth failed for hunter22"]}) == {"reason": ["auth failed for ***"]}


@given(secret=SECRETS, before=SURROUNDINGS, after=SURROUNDINGS)
def test_a_registered_secret_never_survives_masking_whatever_it_contains(
    secret: str, before: str, after: str
) -> None:
    redactor = Redactor()
    redactor.add_secret(secret)
    assert secret not in redactor.text(f"{before}{secret}{after}{secret}")
    assert secret not in str(redactor.data({"reason": [f"{before}{secret}{after}"]}))


@given(name=QUERY_SECRET_NAMES, value=URL_SAFE)
def test_a_secret_named_query_parameter_is_masked(name: str, value: str) -> None:
    url = f"https://host.example/path?page=2&{name}={value}&size=10#top"
    assert Redactor().text(url) == f"https://host.example/path?page=2&{name}=***&size=10#top"


@given(
    password=st.text(
        st.characters(codec="utf-8", exclude_characters="@/?#'\"<>`", exclude_categories=["Cs", "Z", "Cc"]),
        min_size=1,
        max_size=60,
    )
)
def test_a_url_password_is_masked_whatever_it_contains(password: str) -> None:
    url = f"redis://user:{password}@cache.example:6379/0"
    assert Redactor().text(f"cannot connect to {url}: refused") == (
        "cannot connect to redis://user:***@cache.example:6379/0: refused"
    )


@given(
    password=st.text(
        st.characters(codec="utf-8", exclude_characters="'\\\n", exclude_categories=["Cs"]), max_size=40
    )
)
def test_a_quoted_dsn_password_is_masked_whatever_it_contains(password: str) -> None:
    assert Redactor().text(f"host=db password='{password}' dbname=app") == "host=db password=*** dbname=app"


def test_a_url_port_followed_by_a_path_with_an_at_sign_is_not_taken_for_a_password() -> None:
    assert Redactor().text("GET http://localhost:8000/users/@me") == "GET http://localhost:8000/users/@me"


@pytest.mark.timeout(10)
@pytest.mark.parametrize(
    "text", ["a" * 1_000_000, "a://a:a" * 150_000, "password='" * 100_000, "token=a&" * 125_000]
)
def test_masking_a_megabyte_takes_linear_time(text: str) -> None:
    Redactor().text(text)


@given(
    name=SECRET_NAMES,
    secret=SECRETS.filter(lambda s: "{" not in s),
    layer=st.integers(0, 2),
    nested=st.booleans(),
)
def test_every_secret_named_variable_of_any_layer_is_registered(
    name: str, secret: str, layer: int, nested: bool
) -> None:
    layers: list[dict[str, object]] = [{"port": 1}, {"name": "x"}, {}]
    layers[layer][name] = {"primary": [secret]} if nested else secret
    with fresh_redactor() as redactor:
        resolve_variables(layers)
        assert secret not in redactor.text(f"login failed for {secret}")


def test_a_secret_built_from_other_variables_is_registered_as_rendered() -> None:
    with fresh_redactor() as redactor:
        resolve_variables([{"user": "app", "db_password": "{{ user }}-Zq81x"}])
        assert redactor.text("login failed: app-Zq81x") == f"login failed: {MASK}"


def test_secret_variables_are_registered_even_when_rendering_fails() -> None:
    with fresh_redactor() as redactor, pytest.raises(TemplateProblem):
        resolve_variables([{"api_token": "Tk-889911", "url": "{{ undefined_thing }}"}])
    assert redactor.text("Tk-889911") == MASK


def test_variables_not_named_as_secrets_are_not_registered() -> None:
    with fresh_redactor() as redactor:
        resolve_variables([{"service": "backend-api"}])
        assert redactor.text("backend-api") == "backend-api"


def test_a_rejected_value_is_shown_masked_and_not_at_all_under_a_secret_field() -> None:
    url = {"type": "dict_type", "loc": ("broker",), "input": "redis://:Sx9secret@cache:6379/0"}
    assert describe_pydantic_error(url) == 'expected a mapping, got "redis://:***@cache:6379/0"'
    secret_field = {"type": "int_type", "loc": ("auth", "password"), "input": "Sx9secret"}
    assert describe_pydantic_error(secret_field) == f"expected an integer, got {MASK}"


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        # a raw `@` in a password: up to the last `@` before the path
        ("postgresql://app:p@ss@w0rd@db/app", "postgresql://app:***@db/app"),
        ("http://u:p@ss@host/a@b", "http://u:***@host/a@b"),
        ("http://u:p@@h/x", "http://u:***@h/x"),
        # each URL is looked at up to the next one, never past it
        ("redis://:s1@r1 and postgresql://u:s2@db", "redis://:***@r1 and postgresql://u:***@db"),
        ("a://b:c,d://e:f@g", "a://b:c,d://e:***@g"),
        # a quote ends the authority
        ('url="postgresql://u:pw@db" other@x', 'url="postgresql://u:***@db" other@x'),
        # no `@`: a port, not a password
        ("see http://host:8080 now", "see http://host:8080 now"),
        # userinfo longer than a URL's is not looked at
        ("http://" + "a" * 600 + ":pw@h", "http://" + "a" * 600 + ":pw@h"),
    ],
)
def test_url_passwords_are_found_at_their_boundaries(text: str, masked: str) -> None:
    assert Redactor().text(text) == masked


def test_a_registered_secret_containing_another_is_masked_whole() -> None:
    redactor = Redactor()
    redactor.add_secret("abcd")
    redactor.add_secret("abcdefgh")
    assert redactor.text("x abcdefgh y abcd") == "x *** y ***"


def test_a_mask_that_spells_a_secret_again_is_masked_again() -> None:
    redactor = Redactor()
    redactor.add_secret("abcd")
    redactor.add_secret("***efgh")
    assert redactor.text("abcdefgh") == "***"


def test_empty_or_missing_values_are_not_registered() -> None:
    redactor = Redactor()
    redactor.add_secret(None)
    redactor.add_secret("")
    redactor.add_secret("abc")
    assert redactor.text("abc and none") == "abc and none"
