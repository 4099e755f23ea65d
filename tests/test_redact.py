from engine.redact import Redactor


def test_passwords_in_urls_are_masked() -> None:
    assert Redactor().text("postgresql://app:s3cret@db:5432/app") == "postgresql://app:***@db:5432/app"


def test_passwords_in_key_value_dsns_are_masked() -> None:
    assert (
        Redactor().text("host=db user=app password=s3cret dbname=app")
        == "host=db user=app password=*** dbname=app"
    )


def test_values_under_secret_keys_are_masked() -> None:
    data = Redactor().data({"JWT_SECRET": "abc", "api_token": "t", "password_env": "PGPASS", "port": 5})
    assert data == {"JWT_SECRET": "***", "api_token": "***", "password_env": "PGPASS", "port": 5}


def test_registered_secrets_are_masked_wherever_they_appear() -> None:
    redactor = Redactor()
    redactor.add_secret("hunter22")
    assert redactor.data({"reason": ["auth failed for hunter22"]}) == {"reason": ["auth failed for ***"]}
