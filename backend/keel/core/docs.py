"""The API reference (Swagger UI) served by Keel itself, so it works offline and loads nothing from
another origin. Swagger UI's files come from the `fastapi-swagger` package, which ships swagger-ui-dist.
"""

from __future__ import annotations

import base64
import hashlib
import re
from importlib import resources

from fastapi import FastAPI, Request, Response
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse

from keel.core.errors import Problem

DOCS_PATH = "/api/docs"
ASSETS_PATH = f"{DOCS_PATH}/assets"
# Exactly the files the page uses, with their types (not guessed from the machine's MIME table).
ASSET_TYPES = {
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "swagger-ui.css": "text/css; charset=utf-8",
    "favicon-32x32.png": "image/png",
}
# Inline <script> elements (those without a src): the page runs them only when the CSP names their hash.
_INLINE_SCRIPT = re.compile(r"<script(?![^>]*\ssrc=)[^>]*>(.*?)</script>", re.DOTALL)


def script_hashes(html: str) -> list[str]:
    """CSP sources (`'sha256-…'`) for each inline script of the page."""
    return [
        "'sha256-" + base64.b64encode(hashlib.sha256(body.encode()).digest()).decode() + "'"
        for body in _INLINE_SCRIPT.findall(html)
    ]


def _load_assets() -> dict[str, tuple[bytes, str]]:
    """Each asset's bytes and ETag, read once: about 2 MB, served many times."""
    folder = resources.files("fastapi_swagger") / "resources"
    assets = {}
    for name in ASSET_TYPES:
        body = (folder / name).read_bytes()
        assets[name] = (body, '"' + hashlib.sha256(body).hexdigest()[:32] + '"')
    return assets


def install_api_docs(app: FastAPI) -> None:
    """`/api/docs` and its assets under `/api/docs/assets/`. The app is built with `docs_url=None`.

    The page's only inline script is Swagger UI's start-up call; it is allowed by its hash, which is
    fixed because the page is the same for every request. Swagger UI's stylesheet draws its icons with
    `data:` images. There are no OAuth flows in the document, so no OAuth redirect page either.
    """
    if not app.openapi_url:
        raise ValueError("the API reference renders the OpenAPI document: the app needs an openapi_url")
    page = bytes(
        get_swagger_ui_html(
            openapi_url=app.openapi_url,
            title=f"{app.title} reference",
            swagger_js_url=f"{ASSETS_PATH}/swagger-ui-bundle.js",
            swagger_css_url=f"{ASSETS_PATH}/swagger-ui.css",
            swagger_favicon_url=f"{ASSETS_PATH}/favicon-32x32.png",
        ).body
    )
    policy = (
        f"default-src 'none'; script-src 'self' {' '.join(script_hashes(page.decode()))}; "
        "style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    )
    assets = _load_assets()

    async def api_docs() -> HTMLResponse:
        return HTMLResponse(page, headers={"Content-Security-Policy": policy, "Cache-Control": "no-cache"})

    async def api_docs_asset(name: str, request: Request) -> Response:
        if name not in assets:
            raise Problem(404, "No such file of the API reference.")
        body, etag = assets[name]
        # Revalidated after an hour: a new package version changes the ETag.
        headers = {"ETag": etag, "Cache-Control": "public, max-age=3600"}
        if request.headers.get("if-none-match") == etag:
            return Response(status_code=304, headers=headers)
        return Response(body, media_type=ASSET_TYPES[name], headers=headers)

    app.add_api_route(DOCS_PATH, api_docs, methods=["GET"], include_in_schema=False)
    app.add_api_route(f"{ASSETS_PATH}/{{name}}", api_docs_asset, methods=["GET"], include_in_schema=False)
