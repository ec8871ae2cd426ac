"""The HTTP sender against capture servers on 127.0.0.1: what it sends, and what it refuses
to do (follow redirects, resolve twice, wait forever, read everything, use a proxy)."""

from __future__ import annotations

import datetime as dt
import socket
import ssl
import time
from collections.abc import Iterator, Sequence

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from chalicelib.channels.delivery import (
    Delivered,
    Failed,
    HttpReply,
    NetworkError,
    Refused,
    Retry,
    classify,
)
from chalicelib.channels.message import json_request
from chalicelib.channels.sender import send
from chalicelib.channels.ssrf import ResolutionFailed
from tests.capture import Behaviour, CaptureServer
from tests.channel_samples import T0


@pytest.fixture
def server() -> Iterator[CaptureServer]:
    with CaptureServer(Behaviour(status=202, body=b"accepted")) as running:
        yield running


class RebindingResolver:
    """Answers loopback first and an unroutable private address on any later query."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.calls = 0

    def __call__(self, host: str, port: int) -> Sequence[str]:
        assert host == self.name
        self.calls += 1
        return ["127.0.0.1"] if self.calls == 1 else ["10.255.255.1"]


def test_the_request_arrives_byte_for_byte_and_the_reply_comes_back(
    server: CaptureServer,
) -> None:
    request = json_request(server.url("/hook?x=1"), {"a": "é"}, {"X-Custom": "1"})
    outcome = send(request, allow_loopback=True)
    assert isinstance(outcome, HttpReply)
    assert (outcome.status, outcome.body) == (202, b"accepted")
    assert classify(outcome, T0) == Delivered(202)
    [captured] = server.wait_for(1)
    assert captured.method == "POST" and captured.path == "/hook?x=1"
    assert captured.body == request.body == '{"a":"é"}'.encode()
    assert captured.headers["Content-Type"] == "application/json; charset=utf-8"
    assert captured.headers["User-Agent"] == "Vigil-Notifier/1"
    assert captured.headers["X-Custom"] == "1"


def test_loopback_is_refused_unless_the_local_stack_allows_it(server: CaptureServer) -> None:
    outcome = send(json_request(server.url(), {}))
    assert outcome == Refused("127.0.0.1 is a loopback address")
    assert isinstance(classify(outcome, T0), Failed)
    assert server.requests == []  # refused before any connection was made


def test_it_connects_to_the_vetted_address_and_never_resolves_again(
    server: CaptureServer,
) -> None:
    # hooks.test exists in no DNS, and a second answer would be private: only the
    # address vetted on the first answer can have carried this request.
    resolver = RebindingResolver("hooks.test")
    outcome = send(
        json_request(server.url(host="hooks.test"), {"x": 1}),
        allow_loopback=True,
        resolve=resolver,
    )
    assert isinstance(outcome, HttpReply) and outcome.status == 202
    assert resolver.calls == 1
    assert server.wait_for(1)[0].headers["Host"] == f"hooks.test:{server.port}"


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_a_redirect_is_reported_not_followed(status: int) -> None:
    with CaptureServer() as elsewhere:
        moved = Behaviour(status=status, headers={"Location": elsewhere.url("/stolen")})
        with CaptureServer(moved) as first:
            outcome = send(json_request(first.url(), {}), allow_loopback=True)
            assert isinstance(outcome, HttpReply) and outcome.status == status
            assert classify(outcome, T0) == Failed(
                f"HTTP {status}: redirect to {elsewhere.url('/stolen')} not followed"
            )
            # send() has returned, so any followed redirect has already arrived somewhere.
            assert [r.path for r in first.requests] == ["/hook"]
        assert elsewhere.requests == []


def test_a_failing_endpoint_answer_is_read_only_up_to_the_cap() -> None:
    busy = Behaviour(status=503, headers={"Retry-After": "7"}, body=b"x" * 1_000_000)
    with CaptureServer(busy) as server:
        outcome = send(json_request(server.url(), {}), allow_loopback=True, max_response_bytes=1024)
    assert isinstance(outcome, HttpReply)
    assert (outcome.status, len(outcome.body)) == (503, 1024)
    assert classify(outcome, T0) == Retry("HTTP 503: " + "x" * 200, 7.0)


def test_a_server_that_never_answers_times_out_quickly() -> None:
    with CaptureServer(Behaviour(mode="hang")) as server:
        started = time.monotonic()
        outcome = send(json_request(server.url(), {}), allow_loopback=True, timeout=0.3)
        elapsed = time.monotonic() - started
        server.wait_for(1)
    assert outcome == NetworkError("timed out")
    assert isinstance(classify(outcome, T0), Retry)
    assert elapsed < 3


def test_a_trickling_server_is_cut_off_at_the_total_budget() -> None:
    with CaptureServer(Behaviour(mode="trickle")) as server:
        started = time.monotonic()
        outcome = send(
            json_request(server.url(), {}), allow_loopback=True, timeout=2.0, total_timeout=0.5
        )
        elapsed = time.monotonic() - started
    assert outcome == NetworkError("no complete response within 0.5 s")
    assert elapsed < 3


def test_a_closed_port_is_a_network_error_to_retry() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    outcome = send(json_request(f"http://127.0.0.1:{port}/", {}), allow_loopback=True)
    assert isinstance(outcome, NetworkError) and "refused" in outcome.message.lower()
    assert isinstance(classify(outcome, T0), Retry)


def test_a_name_that_does_not_resolve_is_a_network_error_to_retry() -> None:
    def no_dns(host: str, port: int) -> Sequence[str]:
        raise ResolutionFailed(f"cannot resolve {host}")

    outcome = send(json_request("https://hooks.example.com/x", {}), resolve=no_dns)
    assert outcome == NetworkError("cannot resolve hooks.example.com")


def test_proxies_from_the_environment_are_ignored(
    server: CaptureServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY"):
        monkeypatch.setenv(name, "http://127.0.0.1:9")
    monkeypatch.delenv("no_proxy", raising=False)
    monkeypatch.delenv("NO_PROXY", raising=False)
    outcome = send(json_request(server.url(), {}), allow_loopback=True)
    assert isinstance(outcome, HttpReply) and outcome.status == 202
    assert server.wait_for(1)[0].path == "/hook"  # origin-form: no proxy was asked


# --- TLS: pinned to the vetted address, verified against the host name ----------------------


def certificate_for(name: str) -> tuple[bytes, bytes]:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    start = dt.datetime(2020, 1, 1, tzinfo=dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + dt.timedelta(days=365 * 30))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return cert.public_bytes(serialization.Encoding.PEM), key_pem


@pytest.fixture
def tls_server(tmp_path: object) -> Iterator[tuple[CaptureServer, ssl.SSLContext]]:
    from pathlib import Path

    cert_pem, key_pem = certificate_for("hooks.test")
    directory = Path(str(tmp_path))
    (directory / "cert.pem").write_bytes(cert_pem)
    (directory / "key.pem").write_bytes(key_pem)
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.load_cert_chain(directory / "cert.pem", directory / "key.pem")
    client_context = ssl.create_default_context(cadata=cert_pem.decode())
    with CaptureServer(Behaviour(status=200), tls=server_context) as server:
        yield server, client_context


def test_https_reaches_the_pinned_address_with_the_name_for_sni_and_verification(
    tls_server: tuple[CaptureServer, ssl.SSLContext],
) -> None:
    server, trust = tls_server
    outcome = send(
        json_request(server.url(host="hooks.test", scheme="https"), {"tls": True}),
        allow_loopback=True,
        resolve=lambda host, port: ["127.0.0.1"],
        ssl_context=trust,
    )
    assert isinstance(outcome, HttpReply) and outcome.status == 200
    assert server.wait_for(1)[0].body == b'{"tls":true}'


def test_https_refuses_a_certificate_for_another_name(
    tls_server: tuple[CaptureServer, ssl.SSLContext],
) -> None:
    server, trust = tls_server
    outcome = send(
        json_request(server.url(host="other.test", scheme="https"), {}),
        allow_loopback=True,
        resolve=lambda host, port: ["127.0.0.1"],
        ssl_context=trust,
    )
    assert isinstance(outcome, NetworkError)
    assert "certificate" in outcome.message.lower() or "hostname" in outcome.message.lower()
    assert server.requests == []
