"""The DynamoDB item mapping of the ping log and the due buckets (pure: no AWS)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from chalicelib import items
from chalicelib.domain import Check, Ping
from tests.conftest import T0
from tools.bench.meter import item_size

RID = "5d0e2a58-1c7e-4f0b-9a57-2f1b8f0c6a11"


@pytest.mark.parametrize(
    "ping",
    [
        Ping("success"),
        Ping("fail", exitstatus=0, method="POST", scheme="https", remote_addr="2001:db8::1"),
        Ping("start", rid=RID, ua='curlé/8 \u2603 "quoted"', body=b"\x00\xff" * 16),  # 32 B
        Ping("log", body=b"y" * 33),  # one byte past inline: kept apart, a prefix here
    ],
)
def test_a_log_entry_reads_back_as_logged(ping: Ping) -> None:
    at = datetime(2026, 3, 29, 1, 30, 0, 999_999, tzinfo=timezone(timedelta(hours=3)))
    entry, size = items.entry_from(items.log_entry(at, ping.action, ping), 42)
    assert (entry.n, entry.at, entry.kind) == (42, at, ping.action)
    if items.body_apart(ping):
        assert size == len(ping.body)
        assert entry.ping.body == ping.body[: items.BODY_PREFIX_BYTES]
        assert entry.ping.rid == ping.rid and entry.ping.ua == ping.ua
    else:
        assert size is None and entry.ping == ping


def test_a_check_item_with_a_full_list_of_curl_pings_stays_under_one_write_unit() -> None:
    check = Check(
        uuid="0c8ecf15-5823-4a13-8fcc-e4ca05c56436",
        project="f8e3de49-8d59-4f68-bd53-f72ce16cb228",
        created=T0,
        name="nightly backup",
        slug="nightly-backup",
        timeout=86_400,
        grace=3_600,
        badge_key="x" * 22,
        site_root="https://vigil.example",
        status="up",
        last_ping=T0,
        n_pings=123_456,
    )
    item = items.check_to_item(check, 4)
    curl = Ping("success", ua="curl/8.5.0", remote_addr="203.0.113.7", scheme="https")
    entry = items.log_entry(T0, "success", curl)
    item["recent"] = {"L": [{"S": entry}] * (items.PAGE_PINGS + 1)}  # the most it ever holds
    assert item_size(item) <= 1024


def test_default_config_is_left_out_of_the_item_and_reads_back() -> None:
    check = Check(uuid="0c8ecf15-5823-4a13-8fcc-e4ca05c56436", project="p", created=T0)
    item = items.check_to_item(check, 4)
    assert not {"desc", "tags", "filter_body", "manual_resume", "methods"} & set(item)
    assert items.check_from_item(item) == check


def test_buckets_are_monotone_lower_bounds() -> None:
    times = [T0 + timedelta(seconds=s) for s in (-1, 0, 1, 599, 600, 601, 86_399)]
    buckets = [items.due_bucket(at) for at in times]
    assert buckets == sorted(buckets)
    for at, bucket in zip(times, buckets, strict=True):
        assert bucket <= at.timestamp() < bucket + items.DUE_BUCKET_SECONDS
    assert items.due_bucket(datetime(2026, 3, 2, 12, 9, 59, tzinfo=UTC)) == int(T0.timestamp())
