"""Runs inside the healthchecks-io client's own virtualenv, against a live Vigil over HTTP.

Every operation the client offers is exercised the way a migrating user would call it; the
results are printed as one JSON document for the test to check.
"""

from __future__ import annotations

import json
import os
import sys

import httpx
from healthchecks_io import CheckCreate, CheckUpdate, Client
from healthchecks_io.client.exceptions import CheckNotFoundError


def _client_flips_error(client: Client, check_uuid: str) -> str | None:
    """healthchecks-io 0.4.4 iterates the flips answer as a bare list, as Healthchecks' docs
    show it; the server (and Vigil) answer ``{"flips": [...]}``, so the client fails on the
    real answer. The name of what it raises, for the test to pin."""
    try:
        client.get_check_flips(check_uuid)
    except TypeError as error:
        return type(error).__name__
    return None


def main() -> None:
    base, api_key, ping_key = (
        os.environ["VIGIL_BASE"],
        os.environ["API_KEY"],
        os.environ["PING_KEY"],
    )
    client = Client(
        api_key=api_key,
        ping_key=ping_key,
        api_url=f"{base}/api/",
        ping_url=f"{base}/ping/",
        api_version=3,
    )
    out: dict[str, object] = {}
    nightly = client.create_check(
        CheckCreate(name="nightly", tags="prod db", timeout=3600, grace=600)
    )
    client.create_check(CheckCreate(name="hourly", tags="prod", timeout=3600))
    out["created"] = nightly.uuid
    out["by_tag"] = sorted(c.name for c in client.get_checks(tags=["prod", "db"]))
    out["all"] = sorted(c.name for c in client.get_checks())
    out["get"] = client.get_check(nightly.uuid).name
    updated = client.update_check(nightly.uuid, CheckUpdate(name="nightly-backup", grace=900))
    out["updated"] = [updated.name, updated.grace]
    cron = client.create_check(CheckCreate(name="cron", schedule="30 2 * * *", tz="Europe/Riga"))
    out["cron_status"] = cron.status
    out["ping_uuid"] = [
        client.start_ping(uuid=nightly.uuid),
        client.success_ping(uuid=nightly.uuid, data="all good"),
        client.fail_ping(uuid=nightly.uuid),
        client.exit_code_ping(0, uuid=nightly.uuid),
    ]
    slugged = client.create_check(CheckCreate(name="db", timeout=3600))
    httpx.post(
        f"{base}/api/v3/checks/{slugged.uuid}",
        headers={"X-Api-Key": api_key},
        json={"slug": "db-dump"},
    ).raise_for_status()
    out["ping_slug"] = [
        client.success_ping(slug="db-dump"),
        client.exit_code_ping(3, slug="db-dump"),
    ]
    out["pings"] = [
        [p.type, p.number_of_pings, p.duration] for p in client.get_check_pings(nightly.uuid)
    ]
    out["client_flips_error"] = _client_flips_error(client, nightly.uuid)
    flips = httpx.get(
        f"{base}/api/v3/checks/{nightly.uuid}/flips/", headers={"X-Api-Key": api_key}
    ).json()
    out["flips"] = [f["up"] for f in flips["flips"]]
    paused = client.pause_check(nightly.uuid)
    out["paused"] = paused.status
    resumed = httpx.post(
        f"{base}/api/v3/checks/{nightly.uuid}/resume", headers={"X-Api-Key": api_key}
    )
    out["resumed"] = resumed.json()["status"]
    out["integrations"] = [i.kind for i in client.get_integrations() if i]
    out["badges"] = sorted(client.get_badges())
    out["deleted"] = client.delete_check(nightly.uuid).uuid
    try:
        client.get_check(nightly.uuid)
        out["gone"] = False
    except CheckNotFoundError:
        out["gone"] = True
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
