"""The ``ping`` function's Lambda entry: the function URL's pings, without the Chalice app.

The template's Handler for the ``ping`` function (``tools.template.PING_HANDLER``) is
``chalicelib.lambda_entry.ping``, this module's ``handler`` loaded by Lambda's init-phase rules,
not ``app.ping_url``: importing app.py builds the ``Chalice`` app with every blueprint, and so
imports the Management API, the dashboard and the channel modules, none of which a ping needs.
Here a cold start imports the ping path only (``pings``, and what recording a ping imports),
then builds the DynamoDB client during Lambda's init phase as app.py does.

The answer is the one the REST routes give: the same ``pings.respond`` builds it, from the same
REST proxy event (``function_url``) and Chalice's own ``Request``, and the steps of Chalice's
REST handler that can apply to a ping route are repeated here (405 for another method, the
metrics flush of app.py's middleware, a 500 for an unhandled error, Chalice's log format).
``tests/test_function_url.py`` holds the two doors to the same status, body, headers and log.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import Any

from chalice.app import APIGateway, Request, Response, error_response

from chalicelib import function_url, metrics, pings, wiring

LOGGER = "vigil"  # the Chalice app's name: app.py's log lines come from this logger too
LOG_FORMAT = "%(name)s - %(levelname)s - %(message)s"  # Chalice's FORMAT_STRING
ROUTES = function_url.RouteTable(pings.ROUTES)
BINARY_TYPES = APIGateway().binary_types  # what Chalice would base64-encode (none of a ping's)

_log = logging.getLogger(LOGGER)


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """A function URL request in (payload 2.0), its reply out; anything but a ping is a 404."""
    rest_event = function_url.to_rest_event(event, ROUTES)
    if rest_event is None:
        return function_url.not_found(event)
    try:
        response = _respond(rest_event, context)
    finally:  # as app.py's middleware: EMF lines at most once a flush interval per process
        metrics.flush_if_due(metrics.flush_seconds(os.environ))
    return function_url.to_url_response(response.to_dict(BINARY_TYPES))


def _respond(rest_event: dict[str, Any], context: Any) -> Response:
    request = Request(rest_event, context)
    if request.method not in pings.METHODS:
        return error_response(
            error_code="MethodNotAllowedError",
            message=f"Unsupported method: {request.method}",
            http_status_code=405,
            headers={"Allow": ", ".join(pings.METHODS)},
        )
    parameters = rest_event["pathParameters"]
    try:
        return pings.respond(
            request, parameters["code"], parameters.get("suffix"), parameters.get("last")
        )
    except Exception:  # pings.respond answers every error it expects; this is Chalice's 500
        _log.error("Caught exception for path %s", request.path, exc_info=True)
        body = {"Code": "InternalServerError", "Message": "An internal server error occurred."}
        return Response(body=body, status_code=500)


def configure_logging() -> None:
    """The log setup the Chalice app gives its logger, so both doors' lines read the same."""
    if not _log.handlers:  # app.py imported first (tests, the local stack): Chalice's is there
        handler = logging.StreamHandler(sys.stdout)
        handler.setFormatter(logging.Formatter(LOG_FORMAT))
        _log.addHandler(handler)
    _log.propagate = False
    _log.setLevel(logging.INFO)


configure_logging()
# Lambda's init phase builds the DynamoDB client (a no-op outside Lambda: tests, local stack).
wiring.init_lambda(os.environ)
