"""``make bench``: what a ping, a sweep and an alert cost, measured on moto.

    python -m tools.bench [--quick] [--only NAME ...] [--json PATH]

Six figures: ping cost (DynamoDB requests and capacity units, counted from the calls the code
makes), ping overhead (handler time over one bare UpdateItem), sweep cost against fleet size,
alert latency in simulated time, a cold-start proxy, and a cost model in dollars. ``--quick``
is the CI smoke mode: small sizes, the same code paths, no timing claims.

Nothing here reaches real AWS: every client is created inside ``moto.mock_aws`` (or against a
local moto server) with fake credentials, and the environment is scrubbed first.
"""
