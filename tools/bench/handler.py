"""Call the app the way Lambda does: ``app(event, context)`` with an API Gateway proxy event.

The event is built once per path (with Chalice's own converter, as ``chalice local`` does), so
a timed call measures the handler alone: routing, parsing, the use case and its AWS calls.
"""

from __future__ import annotations

from typing import Any


class Handler:
    def __init__(self) -> None:
        from chalice.local import LambdaContext, LambdaEventConverter, RouteMatcher

        from app import app

        self.app = app
        self._converter = LambdaEventConverter(RouteMatcher(list(app.routes)))
        self._context = LambdaContext("api_handler", memory_size=128)

    def has_route(self, template: str) -> bool:
        return template in self.app.routes

    def event(
        self, method: str, path: str, headers: dict[str, str] | None = None, body: bytes = b""
    ) -> dict[str, Any]:
        event: dict[str, Any] = self._converter.create_lambda_event(
            method, path, {"user-agent": "bench", **(headers or {})}, body or None
        )
        return event

    def call(self, event: dict[str, Any]) -> dict[str, Any]:
        # Chalice mutates nothing in the event it is given, so one event serves many calls.
        response: dict[str, Any] = self.app(event, self._context)
        return response

    def request(self, method: str, path: str, body: bytes = b"") -> int:
        return int(self.call(self.event(method, path, body=body))["statusCode"])
