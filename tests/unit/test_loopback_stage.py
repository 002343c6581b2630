"""A deployed function refuses a loopback product center unless its stage says it runs on
an emulator on this machine (the `localstack` stage of `make test-deployed`)."""
from chalicelib.config import Settings, deployed_setting_problems

KEYS = {"token_secret": "t" * 40, "internal_auth_key": "k" * 40, "notify_secret": "n" * 40}


def test_loopback_product_center_is_refused_by_default_and_allowed_by_the_stage():
    local = Settings(product_center_url="http://127.0.0.1:8100", **KEYS)
    assert any("PRODUCT_CENTER_URL" in p for p in deployed_setting_problems(local))
    emulated = Settings(product_center_url="http://127.0.0.1:8100",
                        allow_loopback_product_center=True, **KEYS)
    assert deployed_setting_problems(emulated) == []
    assert Settings.from_env({"ALLOW_LOOPBACK_PRODUCT_CENTER": "1"}).allow_loopback_product_center
