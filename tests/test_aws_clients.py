"""The app's AWS clients: botocore's own, without boto3 and without the scan of every service."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from typing import Any

import pytest
from botocore.exceptions import UnknownServiceError
from botocore.loaders import JSONFileLoader, Loader

from chalicelib import aws_clients, wiring
from tests.conftest import ROOT

MODEL_FILES = ("service-2", "paginators-1", "endpoint-rule-set-1")


@pytest.mark.parametrize("type_name", MODEL_FILES)
def test_the_loader_lists_every_service_vigil_uses_as_botocore_itself_does(type_name: str) -> None:
    everything = Loader().list_available_services(type_name)  # the full scan, for comparison

    listed = aws_clients.ServicesLoader().list_available_services(type_name)

    assert listed == [name for name in everything if name in aws_clients.SERVICES]
    if type_name == "service-2":
        assert listed == sorted(aws_clients.SERVICES)  # the installed botocore knows them all


def test_the_loader_never_lists_the_service_directories(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    listed: list[str] = []
    real = os.listdir

    def recording(path: str) -> list[str]:
        listed.append(path)
        return real(path)

    monkeypatch.setattr(os, "listdir", recording)
    aws_clients.ServicesLoader().load_service_model("dynamodb", "service-2")

    assert listed and all(any(name in path for name in aws_clients.SERVICES) for path in listed)


def files_a_client_reads(service: str, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every data file (path without extension) that building ``service``'s client loads."""
    read: list[str] = []
    real = aws_clients.PlainJSONFileLoader.load_file

    def recording(self: Any, file_path: str) -> Any:
        read.append(file_path)
        return real(self, file_path)

    with monkeypatch.context() as patch:
        patch.setattr(aws_clients.PlainJSONFileLoader, "load_file", recording)
        patch.setattr(aws_clients, "_loaders", {})  # a fresh loader: nothing cached
        patch.setenv("AWS_DEFAULT_REGION", "us-east-1")
        wiring.aws_client(service)
    return read


@pytest.mark.parametrize("service", aws_clients.SERVICES)
def test_every_file_a_client_reads_decodes_as_botocore_decodes_it(
    service: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    read = files_a_client_reads(service, monkeypatch)
    assert any(path.endswith("endpoints") for path in read)  # the 1.25 MB one is among them
    assert any(path.endswith("service-2") for path in read)
    for path in read:
        ours = aws_clients.PlainJSONFileLoader().load_file(path)
        botocores = JSONFileLoader().load_file(path)
        if botocores is None:
            assert ours is None, path
            continue
        assert ours == botocores, path
        # The same order everywhere (botocore's OrderedDicts keep the file's), in plain dicts.
        assert json.dumps(ours) == json.dumps(botocores), path
        assert type(ours) is dict


def test_a_file_form_the_loader_does_not_know_is_left_to_botocore(tmp_path: Any) -> None:
    (tmp_path / "model.json.gz").write_bytes(gzip.compress(b'{"b": 1, "a": {"c": [2]}}'))

    assert aws_clients.PlainJSONFileLoader().load_file(str(tmp_path / "model")) == {
        "b": 1,
        "a": {"c": [2]},
    }
    assert aws_clients.PlainJSONFileLoader().load_file(str(tmp_path / "missing")) is None


def test_a_service_vigil_does_not_use_is_refused_by_name() -> None:
    with pytest.raises(UnknownServiceError, match="lambda"):
        wiring.aws_client("lambda")


def test_a_client_made_under_moto_talks_to_moto_with_the_apps_retries_and_timeouts() -> None:
    from moto import mock_aws

    with mock_aws():
        client = wiring.aws_client("dynamodb")
        assert client.list_tables()["TableNames"] == []  # moto answered; real AWS never asked
    # max_attempts 4 is botocore's retry count: 4 retries, 5 attempts
    assert client.meta.config.retries == {"mode": "standard", "total_max_attempts": 5}
    assert (client.meta.config.connect_timeout, client.meta.config.read_timeout) == (2, 5)
    assert client.meta.region_name == "us-east-1"


def test_the_search_path_honours_aws_data_path_like_botocore() -> None:
    loader = aws_clients.loader_for("/opt/models:~/models")

    assert loader.search_paths[:2] == ["/opt/models", f"{ROOT.home()}/models"]
    assert loader.search_paths[2:] == [Loader.CUSTOMER_DATA_PATH, Loader.BUILTIN_DATA_PATH]
    assert aws_clients.loader_for("/opt/models:~/models") is loader  # built once per process


def test_a_client_imports_botocore_but_never_boto3() -> None:
    code = (
        "import sys\n"
        "from chalicelib import wiring\n"
        "wiring.aws_client('dynamodb')\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'boto3', 'botocore'}))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={"AWS_DEFAULT_REGION": "us-east-1", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=True,
    )

    assert done.stdout.strip() == "['botocore']"
