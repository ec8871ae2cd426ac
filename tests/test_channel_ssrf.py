"""The SSRF guard: only public http(s) addresses, every resolved address checked.

The resolver is injected, so a name can resolve to 10.x or the metadata address without DNS.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

import pytest

from chalicelib.channels.ssrf import (
    ResolutionFailed,
    Target,
    UnsafeUrl,
    address_problem,
    system_resolver,
    vet_url,
)


class FakeResolver:
    """Answers from a table, like DNS would, and remembers what it was asked."""

    def __init__(self, table: dict[str, Sequence[str]]) -> None:
        self.table = table
        self.calls: list[tuple[str, int]] = []

    def __call__(self, host: str, port: int) -> Sequence[str]:
        self.calls.append((host, port))
        return self.table.get(host, ())


resolver = FakeResolver


PUBLIC = "93.184.215.14"


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("http://169.254.169.254/latest/meta-data/", "a cloud metadata address"),
        ("http://[fd00:ec2::254]/latest/", "a cloud metadata address"),
        ("http://169.254.170.2/v2/credentials", "a cloud metadata address"),
        ("http://10.1.2.3/", "a private address"),
        ("http://172.16.0.1/", "a private address"),
        ("http://192.168.1.1/", "a private address"),
        ("http://127.0.0.1:8000/", "a loopback address"),
        ("http://[::1]/", "a loopback address"),
        ("http://0.0.0.0/", "an unspecified address"),
        ("http://[::]/", "an unspecified address"),
        ("http://169.254.1.1/", "a link-local address"),
        ("http://[fe80::1]/", "a link-local address"),
        ("http://224.0.0.1/", "a multicast address"),
        ("http://[ff02::1]/", "a multicast address"),
        ("http://240.0.0.1/", "a private address"),  # reserved; Python files it as private too
        ("http://100.64.0.1/", "not a public address"),  # carrier-grade NAT
        ("http://[fc00::1]/", "a private address"),
        # IPv6 forms that carry an IPv4 address are judged by it.
        ("http://[::ffff:127.0.0.1]/", "a loopback address"),
        ("http://[::ffff:169.254.169.254]/", "a cloud metadata address"),
        ("http://[::ffff:10.0.0.1]/", "a private address"),
        ("http://[2002:a00:1::1]/", "a private address"),  # 6to4 of 10.0.0.1
        ("http://[64:ff9b::a9fe:a9fe]/", "a cloud metadata address"),  # NAT64 of the IMDS
    ],
)
def test_literal_addresses_that_are_not_public_are_refused(url: str, problem: str) -> None:
    with pytest.raises(UnsafeUrl) as refused:
        vet_url(url, resolve=resolver({}))
    assert str(refused.value).endswith(f"is {problem}")


@pytest.mark.parametrize(
    ("answer", "problem"),
    [
        (["10.0.0.7"], "a private address"),
        (["169.254.169.254"], "a cloud metadata address"),
        (["127.0.0.1"], "a loopback address"),
        ([PUBLIC, "10.0.0.7"], "a private address"),  # every address counts, not the first
        (["2606:4700::1111", "::ffff:192.168.0.1"], "a private address"),
    ],
)
def test_a_name_that_resolves_to_a_private_address_is_refused(
    answer: list[str], problem: str
) -> None:
    resolve = resolver({"hooks.example.com": answer})
    with pytest.raises(UnsafeUrl, match=f"hooks.example.com resolves to .*, which is {problem}"):
        vet_url("https://hooks.example.com/x", resolve=resolve)


def test_localhost_is_refused_deployed_and_allowed_locally() -> None:
    resolve = resolver({"localhost": ["127.0.0.1", "::1"]})
    with pytest.raises(UnsafeUrl, match="loopback"):
        vet_url("http://localhost:9000/hook", resolve=resolve)
    target = vet_url("http://localhost:9000/hook", resolve=resolve, allow_loopback=True)
    assert target == Target("http", "localhost", 9000, ("127.0.0.1", "::1"))


def test_allowing_loopback_allows_nothing_else() -> None:
    for url in ("http://10.0.0.1/", "http://169.254.169.254/", "http://[::ffff:10.0.0.1]/"):
        with pytest.raises(UnsafeUrl):
            vet_url(url, resolve=resolver({}), allow_loopback=True)
    assert vet_url("http://[::ffff:127.0.0.1]/", allow_loopback=True).addresses == (
        "::ffff:7f00:1",
    )


def test_a_public_name_is_vetted_once_with_its_addresses_and_default_port() -> None:
    resolve = resolver({"hooks.slack.com": [PUBLIC, "2606:4700::1111"]})
    target = vet_url("https://Hooks.Slack.com./services/T/B/X", resolve=resolve)
    assert target == Target("https", "hooks.slack.com", 443, (PUBLIC, "2606:4700::1111"))
    assert resolve.calls == [("hooks.slack.com", 443)]
    assert vet_url(f"http://{PUBLIC}:8080/", resolve=resolve).port == 8080


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://example.com/", "only http:// and https://"),
        ("file:///etc/passwd", "only http:// and https://"),
        ("gopher://127.0.0.1:6379/_", "only http:// and https://"),
        ("javascript:alert(1)", "only http:// and https://"),
        ("https://user:pass@example.com/", "credentials"),
        ("https:///nohost", "no host"),
        ("http://example.com:99999/", "not a valid URL"),
    ],
)
def test_only_plain_http_urls_are_accepted(url: str, message: str) -> None:
    with pytest.raises(UnsafeUrl, match=message):
        vet_url(url, resolve=resolver({"example.com": [PUBLIC]}))


def test_a_name_that_does_not_resolve_is_transient_not_unsafe() -> None:
    with pytest.raises(ResolutionFailed):
        vet_url("https://nowhere.example/", resolve=resolver({}))
    with pytest.raises(ResolutionFailed):
        system_resolver("name.invalid", 443)  # RFC 6761: never resolves


def test_a_resolver_answer_that_is_not_an_address_is_refused() -> None:
    with pytest.raises(UnsafeUrl, match="not an IP address"):
        vet_url("https://x.example/", resolve=resolver({"x.example": ["evil"]}))


def test_the_system_resolver_resolves_numeric_forms_the_way_connect_would() -> None:
    # 2130706433 and 0x7f.1 are 127.0.0.1 to getaddrinfo; the guard judges what it returns.
    assert system_resolver("2130706433", 80) == ["127.0.0.1"]
    with pytest.raises(UnsafeUrl, match="loopback"):
        vet_url("http://2130706433/")


@pytest.mark.parametrize("address", [PUBLIC, "8.8.8.8", "2606:4700::1111", "2a00:1450::1"])
def test_public_addresses_pass(address: str) -> None:
    assert address_problem(ipaddress.ip_address(address)) is None
