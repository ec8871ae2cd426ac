"""Outbound alert channels: what Vigil sends to Slack, Teams, Discord, PagerDuty, Opsgenie,
signed webhooks and AWS Chatbot, and how it sends it.

Everything here is pure or takes its I/O as arguments, so the notifier (SNS → SQS → Lambda)
and the local stack wire the same code:

- ``view``: reads Vigil's alert document into the facts every message shows.
- ``text``: truncation with a marker, vendor-markup escaping, durations in words.
- ``webhook``, ``slack``, ``msteams``, ``discord``, ``pagerduty``, ``opsgenie``, ``chatbot``:
  one payload builder per kind; ``kinds.build_delivery`` picks one by channel kind.
- ``delivery``: delivered / retry / permanent from an outcome, and the backoff schedule.
- ``ssrf``: which URLs may be fetched, and the vetted addresses to connect to.
- ``sender``: the urllib HTTP sender (short timeouts, no redirects, capped reads).
- ``config``: a channel creation body validated per kind, its secret fields named.
- ``notify``: one attempt (build, send, classify), the idempotency key, the local log line.
"""
