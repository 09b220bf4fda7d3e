from __future__ import annotations

import pytest

from peakline_core.wire.broker import BrokerAddress, BrokerUrlError


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("mqtt://127.0.0.1", BrokerAddress("127.0.0.1", 1883)),
        ("mqtt://broker:1884", BrokerAddress("broker", 1884)),
        ("mqtts://broker", BrokerAddress("broker", 8883, tls=True)),
        ("mqtt://gw%2D1:p%40ss@h:1", BrokerAddress("h", 1, False, "gw-1", "p@ss")),
    ],
)
def test_broker_urls_parse(url: str, expected: BrokerAddress) -> None:
    assert BrokerAddress.parse(url) == expected


@pytest.mark.parametrize("url", ["http://h", "mqtt://", "h:1883", "mqtt://h:notaport", ""])
def test_bad_broker_urls_say_why(url: str) -> None:
    with pytest.raises(BrokerUrlError, match="broker URL"):
        BrokerAddress.parse(url)


def test_password_is_never_printed() -> None:
    address = BrokerAddress.parse("mqtt://svc:secret@h:1")
    assert "secret" not in str(address)
    assert str(address) == "mqtt://svc@h:1"


def test_login_outside_the_url_wins() -> None:
    address = BrokerAddress.parse("mqtt://a:b@h").with_login("svc-api", "s3cret")
    assert (address.username, address.password) == ("svc-api", "s3cret")
