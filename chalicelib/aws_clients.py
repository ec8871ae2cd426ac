"""AWS clients built by botocore itself, without boto3: the cheapest client a cold start can get.

Measured here (figure 5, docs/performance.md): boto3 adds nothing Vigil uses (no resources, no
S3 transfers) yet ``import boto3`` also imports s3transfer and multiprocessing, about 10 ms over
botocore's session alone. And before botocore loads a service's model it lists every service
it ships (about 450 directories, 2,800 ``stat`` calls) to check the name, once per file type
(the model, then the paginators): about 15 ms of the DynamoDB client's 45 ms.

``ServicesLoader`` is botocore's own ``Loader`` over the same search path (botocore's data,
``~/.aws/models``, ``AWS_DATA_PATH``) that lists only the services Vigil uses. Every file still
comes from the botocore that runs, Lambda's own included, so nothing here can drift from it.

Its files are decoded by ``PlainJSONFileLoader``: botocore's file loader builds every JSON
object as an ``OrderedDict`` (``object_pairs_hook``), which the C decoder does at about half
speed; a plain dict keeps the same order and content. Measured here: the 1.25 MB
``endpoints.json`` every client reads decodes in 4.1 ms instead of 8.7, DynamoDB's model in
1.1 instead of 2.0.
Every call makes a new session, as ``boto3.client`` does under moto (which swaps boto3's default
session per mock); only the loader, whose files never change, is shared.
"""

from __future__ import annotations

import gzip
import json
import os
from typing import Any

from botocore.config import Config
from botocore.exceptions import DataNotFoundError
from botocore.loaders import JSONFileLoader, Loader, instance_cache
from botocore.session import Session

# Every service Vigil's runtime (the app, the local stack, the CLI) makes clients for.
SERVICES = ("dynamodb", "kms", "sns", "sqs")

_loaders: dict[str | None, ServicesLoader] = {}


# The file forms botocore reads, in the order it tries them.
JSON_OPENERS = ((".json", open), (".json.gz", gzip.open))


class PlainJSONFileLoader(JSONFileLoader):  # type: ignore[misc]  # botocore ships no type hints
    """botocore's JSON file loader, decoding into plain dicts rather than ``OrderedDict``."""

    def load_file(self, file_path: str) -> Any:
        for extension, opener in JSON_OPENERS:
            path = file_path + extension
            if os.path.isfile(path):
                with opener(path, "rb") as stream:
                    return json.loads(stream.read().decode("utf-8"))
        return super().load_file(file_path)  # a form botocore added since: read as it reads it


class ServicesLoader(Loader):  # type: ignore[misc]  # botocore ships no type hints
    """botocore's loader, listing only ``SERVICES`` instead of every service's directory."""

    @instance_cache  # type: ignore[untyped-decorator]
    def list_available_services(self, type_name: str) -> list[str]:
        return [name for name in SERVICES if self._has(name, type_name)]

    def _has(self, service: str, type_name: str) -> bool:
        try:
            self.list_api_versions(service, type_name)  # cached: the model load asks it next
        except DataNotFoundError:
            return False
        return True


def loader_for(data_path: str | None) -> ServicesLoader:
    """One loader per search path, as botocore's ``create_loader`` would build it."""
    found = _loaders.get(data_path)
    if found is None:
        extra = None
        if data_path:
            extra = [os.path.expanduser(os.path.expandvars(p)) for p in data_path.split(os.pathsep)]
        found = _loaders[data_path] = ServicesLoader(
            extra_search_paths=extra, file_loader=PlainJSONFileLoader()
        )
    return found


def client(service: str, config: Config) -> Any:
    """A client for ``service``; region, credentials, ``AWS_ENDPOINT_URL`` found as by boto3."""
    session = Session()
    session.register_component("data_loader", loader_for(session.get_config_variable("data_path")))
    return session.create_client(service, config=config)
