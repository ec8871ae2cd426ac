"""Figure 6: dollars per million pings and per month, from the measured request counts.

Prices are AWS's public on-demand list prices for us-east-1 (no free tier, no savings plans),
as known on PRICES_AS_OF; re-check them at https://aws.amazon.com/pricing before quoting.
Counts come from figures 1 and 3 (capacity units per steady ping including the due index and
the ping log's page flushes; index queries per sweep) and log bytes from what the handlers
printed. A sweep also reads its candidates (checks whose due bucket has begun): per scenario,
the share of checks that are candidates follows from their period and grace (see
``candidate_share``), at one eventually consistent read unit each, every pass.
Lambda durations are assumptions, stated below: moto in-process says nothing about a 128 MB
Lambda's CPU share or DynamoDB's network round trips.

The edge is as deployed since issue 10: pings through a Lambda function URL (no charge of its
own), functions on arm64 at 128 MB, Lambda's own START/END/REPORT lines off (system log level
WARN), the per-ping log line at DEBUG and EMF flushed once a minute per warm process. The
"before" line prices the same pings through the REST API on x86 with the old log settings,
from log bytes measured in the same run.
"""

from __future__ import annotations

from dataclasses import dataclass

from chalicelib.items import DUE_BUCKET_SECONDS, PAGE_PINGS, page_slots
from tools.bench.ping_cost import STEADY, PingCost
from tools.bench.report import heading, table
from tools.bench.sweep_cost import FleetRow

PRICES_AS_OF = "2026-11-27"
REGION = "us-east-1"
MILLION = 1_000_000
GB = 1_000_000_000

# USD, us-east-1 list prices.
DYNAMODB_PER_MILLION_WRU = 0.625  # on-demand, after the November 2024 cut
DYNAMODB_PER_MILLION_RRU = 0.125
DYNAMODB_STORAGE_PER_GB_MONTH = 0.25
API_GATEWAY_REST_PER_MILLION = 3.50  # first 333 million a month
FUNCTION_URL_PER_MILLION = 0.0  # billed as the Lambda invocation only
LAMBDA_PER_MILLION_REQUESTS = 0.20
LAMBDA_PER_GB_SECOND = 0.0000133334  # arm64, first 7.5 billion GB-s a month
LAMBDA_PER_GB_SECOND_X86 = 0.0000166667
LOGS_INGESTION_PER_GB = 0.50
KMS_KEY_PER_MONTH = 1.00  # the topic's customer managed key (bootstrap creates it)

# Assumptions, not measurements.
LAMBDA_MEMORY_GB = 0.125
# Kept from before issue 10's storage half, although a steady ping now makes 1.3 round trips
# on average instead of 2: conservative until measured on a deploy.
PING_BILLED_SECONDS = 0.040
SWEEP_BILLED_SECONDS = 0.300  # one pass: 4 index queries, nothing due
FAST_SWEEP_BILLED_SECONDS = 50.3  # fast mode sleeps inside the invocation: 0 s to 50 s, 6 passes
FAST_SWEEPS_PER_INVOCATION = 6
# Lambda's START, END and REPORT lines per invocation, with CloudWatch's 26 B per event: what
# every invocation logged before; with the system log level at WARN, none.
PLATFORM_LOG_BYTES_AT_INFO = 90 + 60 + 190 + 3 * 26
PLATFORM_LOG_BYTES = 0
# EMF: one flush per warm process per minute (VIGIL_METRICS_FLUSH_SECONDS), at most one per
# ping. Assumed: one warm ping process (at 40 ms a ping, one process serves 25 pings a second).
EMF_FLUSHES_PER_PROCESS_MINUTE = 1
PING_PROCESSES = 1
ITEM_OVERHEAD_BYTES = 100  # DynamoDB storage overhead per item and per index entry
CHECK_ITEM_BYTES = 1_000  # config, state and up to eight recent pings
INDEX_ENTRY_BYTES = 120  # a KEYS_ONLY due-index entry
PING_ENTRY_BYTES = 75  # one compact log entry (items.log_entry), no body
PING_LOG_LIMIT = 100
CANDIDATE_RRU = 0.5  # a check item read eventually consistent (under 4 KB)
# The storage layout before issue 10's storage half, as this bench measured it at commit
# ca8e64b (python -m tools.bench in a checkout of that commit, the same session as the
# figures here): a steady success ping cost 5 WRU and 0.04 RRU (log pruning); an idle sweep
# read nothing but its 4 index queries.
BEFORE_WRU = 5.0
BEFORE_RRU = 0.04
HOURS_PER_MONTH = 730
SWEEPS_PER_MONTH = HOURS_PER_MONTH * 60

# Hosted alternatives, monthly list prices as last known to us: RE-CHECK before publishing.
HOSTED = [
    ("Healthchecks.io Business (100 checks)", 20.0),
    ("Healthchecks.io Business Plus (1,000 checks)", 80.0),
    ("Cronitor (about $2 per monitor), 100 monitors", 200.0),
    ("Cronitor (about $2 per monitor), 1,000 monitors", 2_000.0),
]
SCENARIOS = [(100, 60), (100, 1), (1_000, 60), (1_000, 1)]  # (checks, minutes between pings)


@dataclass
class PerPing:
    wru: float
    rru: float
    log_bytes: float
    legacy_log_bytes: float = 0.0  # the same ping's lines under the old settings
    emf_flush_bytes: float = 0.0  # one EMF flush

    def dollars(self, emf_bytes_per_ping: float = 0.0) -> dict[str, float]:
        """USD per ping, by service, as deployed now (function URL, arm64, quiet logs)."""
        return {
            "Function URL": FUNCTION_URL_PER_MILLION / MILLION,
            "Lambda": LAMBDA_PER_MILLION_REQUESTS / MILLION
            + PING_BILLED_SECONDS * LAMBDA_MEMORY_GB * LAMBDA_PER_GB_SECOND,
            "DynamoDB": self._dynamodb(),
            "CloudWatch Logs": (self.log_bytes + emf_bytes_per_ping + PLATFORM_LOG_BYTES)
            / GB
            * LOGS_INGESTION_PER_GB,
        }

    def before(self) -> dict[str, float]:
        """USD per ping before issue 10: REST API, x86, every line logged, the old storage."""
        return {
            "API Gateway REST": API_GATEWAY_REST_PER_MILLION / MILLION,
            "Lambda": LAMBDA_PER_MILLION_REQUESTS / MILLION
            + PING_BILLED_SECONDS * LAMBDA_MEMORY_GB * LAMBDA_PER_GB_SECOND_X86,
            "DynamoDB": (
                BEFORE_WRU * DYNAMODB_PER_MILLION_WRU + BEFORE_RRU * DYNAMODB_PER_MILLION_RRU
            )
            / MILLION,
            "CloudWatch Logs": (self.legacy_log_bytes + PLATFORM_LOG_BYTES_AT_INFO)
            / GB
            * LOGS_INGESTION_PER_GB,
        }

    def _dynamodb(self) -> float:
        return (self.wru * DYNAMODB_PER_MILLION_WRU + self.rru * DYNAMODB_PER_MILLION_RRU) / MILLION

    def emf_bytes_per_ping(self, pings_per_month: int) -> float:
        """EMF flushes spread over the pings: one per process-minute, never more than one each."""
        flushes = min(
            pings_per_month,
            PING_PROCESSES * EMF_FLUSHES_PER_PROCESS_MINUTE * HOURS_PER_MONTH * 60,
        )
        return self.emf_flush_bytes * flushes / pings_per_month if pings_per_month else 0.0


def candidate_share(period: float, grace: float, bucket: float = DUE_BUCKET_SECONDS) -> float:
    """The share of a check's life it spends as a sweep candidate (its due bucket has begun).

    Between pings the time left to its deadline falls evenly from ``period + grace`` to
    ``grace``; with ``d`` seconds left, a sweep at a random moment of its bucket reads it with
    probability ``1 - d / bucket`` (zero once ``d`` exceeds a bucket).
    """
    low, high = grace, min(grace + period, bucket)
    if low >= bucket:
        return 0.0
    inside = (high - low) - (high * high - low * low) / (2 * bucket)
    return inside / period


@dataclass
class Sweeper:
    rru: float
    log_bytes: float

    def monthly(self, fast: bool, candidates: float = 0.0) -> float:
        passes = FAST_SWEEPS_PER_INVOCATION if fast else 1
        seconds = FAST_SWEEP_BILLED_SECONDS if fast else SWEEP_BILLED_SECONDS
        rru = self.rru + candidates * CANDIDATE_RRU
        per_invocation = (
            LAMBDA_PER_MILLION_REQUESTS / MILLION
            + seconds * LAMBDA_MEMORY_GB * LAMBDA_PER_GB_SECOND
            + passes * rru * DYNAMODB_PER_MILLION_RRU / MILLION
            + (passes * self.log_bytes + PLATFORM_LOG_BYTES) / GB * LOGS_INGESTION_PER_GB
        )
        return per_invocation * SWEEPS_PER_MONTH


@dataclass
class Scenario:
    checks: int
    every_minutes: int
    pings: int
    by_service: dict[str, float]
    sweeper: float
    fixed: float
    fast_sweeper: float
    candidates: float = 0.0  # check items a sweep pass reads (due or due within the bucket)

    @property
    def total(self) -> float:
        return sum(self.by_service.values()) + self.sweeper + self.fixed

    @property
    def total_fast(self) -> float:
        return self.total - self.sweeper + self.fast_sweeper


@dataclass
class CostModel:
    per_ping: PerPing
    sweeper: Sweeper
    scenarios: list[Scenario]


def run(pings: PingCost, fleets: list[FleetRow]) -> CostModel:
    steady = pings.of(STEADY)
    per_ping = PerPing(
        steady.wru, steady.rru, steady.log_bytes, pings.legacy_log_bytes, pings.emf_flush_bytes
    )
    # An empty pass: the smallest fleet's idle sweep without its candidates' reads (each
    # scenario adds its own candidates), i.e. the index queries alone.
    idle = fleets[0].idle
    sweeper = Sweeper(idle.rru - idle.items_read * CANDIDATE_RRU, idle.log_bytes)
    return CostModel(per_ping, sweeper, [_scenario(per_ping, sweeper, c, m) for c, m in SCENARIOS])


def _scenario(per_ping: PerPing, sweeper: Sweeper, checks: int, every_minutes: int) -> Scenario:
    pings = checks * HOURS_PER_MONTH * 60 // every_minutes
    emf = per_ping.emf_bytes_per_ping(pings)
    by_service = {name: usd * pings for name, usd in per_ping.dollars(emf).items()}
    pages = page_slots(PING_LOG_LIMIT)
    stored = checks * (
        CHECK_ITEM_BYTES
        + INDEX_ENTRY_BYTES
        + pages * (PAGE_PINGS * PING_ENTRY_BYTES + ITEM_OVERHEAD_BYTES)
    )
    by_service["DynamoDB"] += stored / GB * DYNAMODB_STORAGE_PER_GB_MONTH
    # Assumed: each check's grace equals its period (a minute, an hour).
    period = every_minutes * 60
    candidates = checks * candidate_share(period, period)
    return Scenario(
        checks,
        every_minutes,
        pings,
        by_service,
        sweeper.monthly(fast=False, candidates=candidates),
        KMS_KEY_PER_MONTH,
        sweeper.monthly(fast=True, candidates=candidates),
        candidates,
    )


def render(model: CostModel) -> str:
    busiest = max(model.scenarios, key=lambda s: s.pings)
    emf = model.per_ping.emf_bytes_per_ping(busiest.pings)
    per_million = {name: usd * MILLION for name, usd in model.per_ping.dollars(emf).items()}
    before = {name: usd * MILLION for name, usd in model.per_ping.before().items()}
    services = list(per_million)
    rows = [
        [
            f"{s.checks:,} checks, every {'minute' if s.every_minutes == 1 else 'hour'}",
            s.pings,
            *(f"${s.by_service[name]:.2f}" for name in services),
            round(s.candidates),
            f"${s.sweeper:.2f}",
            f"${s.fixed:.2f}",
            f"${s.total:.2f}",
            f"${s.total_fast:.2f}",
        ]
        for s in model.scenarios
    ]
    return "\n".join(
        [
            heading(
                6, f"Cost model (USD, {REGION} list prices as of {PRICES_AS_OF}, no free tier)"
            ),
            f"Per ping (measured): {model.per_ping.wru:.2f} WRU, {model.per_ping.rru:.3f} RRU,"
            f" {model.per_ping.log_bytes:.0f} B of app logs (+{PLATFORM_LOG_BYTES} B Lambda lines,"
            f" +{emf:.1f} B of EMF at {busiest.pings:,} pings a month)."
            f" Per idle sweep: {model.sweeper.rru:g} RRU.",
            f"Per million pings ({busiest.pings:,} a month): "
            + ", ".join(f"{name} ${usd:.2f}" for name, usd in per_million.items())
            + f"; total ${sum(per_million.values()):.2f}.",
            "Before issue 10 (REST API, x86, per-ping line and EMF every request, Lambda's"
            f" START/END/REPORT lines, {model.per_ping.legacy_log_bytes:.0f}"
            f" + {PLATFORM_LOG_BYTES_AT_INFO} B of logs measured in this run; the old storage"
            f" layout's {BEFORE_WRU:g} WRU and {BEFORE_RRU:g} RRU per ping, measured at ca8e64b): "
            + ", ".join(f"{name} ${usd:.2f}" for name, usd in before.items())
            + f"; total ${sum(before.values()):.2f}.",
            table(
                [
                    "scenario",
                    "pings/month",
                    *services,
                    "candidates/pass",
                    "sweeper",
                    "KMS key",
                    "total/month",
                    "total, fast mode",
                ],
                rows,
            ),
            f"Assumed: Lambda {LAMBDA_MEMORY_GB * 1024:.0f} MB, {PING_BILLED_SECONDS * 1000:.0f} ms"
            f" billed per ping, {SWEEP_BILLED_SECONDS * 1000:.0f} ms per sweep"
            f" ({FAST_SWEEP_BILLED_SECONDS:.0f} s per invocation in fast mode), arm64; pings"
            " through the function URL (the REST API adds $3.50 per million);"
            f" {PING_PROCESSES} warm ping process flushing EMF once a minute;"
            " ping log kept at 100 entries per check; each check's grace equal to its period"
            " (candidates/pass: the checks a sweep reads and skips, at"
            f" {CANDIDATE_RRU} RRU each); SNS, email and SMS only per alert (not"
            " counted); the free tier would cover most of Lambda at these volumes.",
            "Healthchecks.io Business Plus (1,000 checks, $80 a month, $64 billed annually):"
            f" 1,000 checks every minute here ${busiest.total:.2f} a month.",
            "Hosted, per month (list prices as last known; re-check): "
            + "; ".join(f"{name} ${usd:,.0f}" for name, usd in HOSTED)
            + ".",
        ]
    )
