"""Request plumbing in one pure-ASGI layer: request id, body cap and read timeout, security headers,
metrics, access log."""

from __future__ import annotations

import asyncio
import json
import re
import time
import uuid

import structlog
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from keel.core.errors import INTERNAL_ERROR_DETAIL, PROBLEM_BASE, PROBLEM_JSON
from keel.core.metrics import observe_request

REQUEST_ID_HEADER = b"x-request-id"
_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"strict-transport-security", b"max-age=63072000; includeSubDomains"),
]
# For every response without a policy of its own (JSON, errors, redirects): load nothing, never be framed.
# Pages set their own, as narrow as they can: the sign-in pages, the front door and the API reference.
_CSP = b"content-security-policy"
_DEFAULT_CSP = (_CSP, b"default-src 'none'; frame-ancestors 'none'; base-uri 'none'")
access_log = structlog.get_logger("keel.access")


class RequestContextMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        max_body_bytes: int,
        body_timeout_seconds: float = 30.0,
        larger_bodies: dict[str, int] | None = None,
    ) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.body_timeout_seconds = body_timeout_seconds
        # Paths that take larger bodies (file uploads), by exact path.
        self.larger_bodies = larger_bodies or {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        supplied = headers.get(REQUEST_ID_HEADER, b"").decode("latin-1")
        request_id = supplied if _VALID_REQUEST_ID.match(supplied) else uuid.uuid4().hex
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=request_id)
        scope.setdefault("state", {})["request_id"] = request_id
        started = time.perf_counter()
        status: int | None = None  # set once the response has started

        async def send_with_headers(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                own = message.get("headers", [])
                message["headers"] = [
                    *own,
                    (REQUEST_ID_HEADER, request_id.encode()),
                    *_SECURITY_HEADERS,
                    *([] if any(name.lower() == _CSP for name, _ in own) else [_DEFAULT_CSP]),
                ]
            await send(message)

        try:
            declared = int(headers.get(b"content-length", b"0") or 0)
        except ValueError:
            declared = 0
        cap = self.larger_bodies.get(scope["path"], self.max_body_bytes)
        try:
            if declared > cap:
                await _too_large(send_with_headers, cap)
            else:
                await self.app(scope, self._capped(receive, cap), send_with_headers)
        except Exception:
            # Answered here, inside this layer, so even a 500 carries the request id and headers.
            access_log.exception("unhandled_error", path=scope["path"])
            if status is not None:
                raise
            await _internal_error(send_with_headers, scope["path"])
        finally:
            template = _route_template(scope)
            elapsed = time.perf_counter() - started
            status = status or 500
            observe_request(scope["method"], template, status, elapsed)
            access_log.info(
                "request",
                method=scope["method"],
                path=scope["path"],
                route=template,
                status=status,
                ms=round(elapsed * 1000, 2),
            )

    def _capped(self, receive: Receive, limit: int) -> Receive:
        """The body, refused once larger than the cap or slower than the timeout (a slow client must
        not hold a worker). After the last chunk, `receive` waits for a disconnect as long as it likes."""
        received, complete = 0, False
        timeout = self.body_timeout_seconds
        deadline = time.monotonic() + timeout

        async def capped_receive() -> Message:
            nonlocal received, complete
            if complete:
                return await receive()
            try:
                message = await asyncio.wait_for(receive(), max(0.0, deadline - time.monotonic()))
            except TimeoutError:
                raise HTTPException(408, f"The body did not arrive within {timeout:g} seconds.") from None
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise HTTPException(413, f"The body is larger than {limit} bytes.")
                complete = not message.get("more_body", False)
            return message

        return capped_receive


def _route_template(scope: Scope) -> str:
    """The matched route's template (`/api/v1/api-keys/{key_id}`), so metrics stay low-cardinality."""
    template = getattr(scope.get("route"), "path_format", None)
    if not isinstance(template, str):
        return "unmatched"
    # The route's own template lacks the prefixes of the routers that include it: take those from the path.
    parts = scope["path"].split("/")
    return "/".join(parts[: len(parts) - template.count("/")]) + template


async def _send_problem(send: Send, status: int, problem: dict[str, object]) -> None:
    body = json.dumps(problem).encode()
    headers = [(b"content-type", PROBLEM_JSON.encode()), (b"content-length", str(len(body)).encode())]
    if status == 413:
        headers.append((b"connection", b"close"))  # the rest of the body is not read
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _too_large(send: Send, limit: int) -> None:
    await _send_problem(
        send,
        413,
        {
            "type": PROBLEM_BASE + "content-too-large",
            "title": "Content Too Large",
            "status": 413,
            "detail": f"The body is larger than {limit} bytes.",
        },
    )


async def _internal_error(send: Send, path: str) -> None:
    await _send_problem(
        send,
        500,
        {
            "type": PROBLEM_BASE + "internal-server-error",
            "title": "Internal Server Error",
            "status": 500,
            "detail": INTERNAL_ERROR_DETAIL,
            "instance": path,
        },
    )
