"""The API reference works offline (everything from Keel's own origin, under a CSP that allows nothing
else) and `/` is a front door that points the way."""

from __future__ import annotations

import base64
import hashlib
import re
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from html.parser import HTMLParser

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from keel.core.config import get_settings
from keel.core.docs import install_api_docs
from keel.main import create_app
from tests.conftest import PUBLIC_URL

ASSET_TYPES = {  # what each asset must be served as, and a size below which it cannot be the real file
    ".js": (("text/javascript", "application/javascript"), 500_000),
    ".css": (("text/css",), 50_000),
    ".png": (("image/png",), 100),
}
FRONT_DOOR_LINKS = {"/login", "/api/docs", "/api/openapi.json", "/healthz", "/readyz", "/metrics"}


class _Refs(HTMLParser):
    """Every URL an HTML page refers to (href, src), and the bodies of its inline scripts."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[tuple[str, str]] = []  # (tag, url)
        self.inline_scripts: list[str] = []
        self._in_inline_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        for name in ("href", "src"):
            if found.get(name):
                self.urls.append((tag, found[name] or ""))
        self._in_inline_script = tag == "script" and "src" not in found
        if self._in_inline_script:
            self.inline_scripts.append("")

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_inline_script = False

    def handle_data(self, data: str) -> None:
        if self._in_inline_script:
            self.inline_scripts[-1] += data


def refs(html: str) -> _Refs:
    parser = _Refs()
    parser.feed(html)
    return parser


def csp(response: httpx.Response) -> dict[str, list[str]]:
    directives = [d.split() for d in response.headers["content-security-policy"].split(";") if d.strip()]
    return {d[0]: d[1:] for d in directives}


def same_origin(url: str) -> bool:
    return url.startswith("/") and not url.startswith("//")


def assert_security_headers(response: httpx.Response) -> None:
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["x-frame-options"] == "DENY"
    assert "max-age=" in response.headers["strict-transport-security"]
    assert csp(response)["frame-ancestors"] == ["'none'"]


# --- the API reference ---------------------------------------------------------------------------


async def test_the_api_reference_refers_only_to_its_own_origin(client: httpx.AsyncClient) -> None:
    page = await client.get("/api/docs")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    found = refs(page.text)
    assert {tag for tag, _ in found.urls} == {"link", "script"}
    assert all(same_origin(url) for _, url in found.urls), found.urls
    assert not re.search(r"https?://", page.text), "the page names another origin"


async def test_each_asset_of_the_api_reference_is_served_whole_and_typed(client: httpx.AsyncClient) -> None:
    urls = [url for _, url in refs((await client.get("/api/docs")).text).urls]
    assert len(urls) == 3  # stylesheet, favicon, script
    for url in urls:
        asset = await client.get(url)
        assert asset.status_code == 200, url
        types, smallest = ASSET_TYPES[url[url.rindex(".") :]]
        assert asset.headers["content-type"].split(";")[0] in types, url
        assert len(asset.content) >= smallest, url
        assert asset.headers["x-content-type-options"] == "nosniff"
        again = await client.get(url, headers={"If-None-Match": asset.headers["etag"]})
        assert again.status_code == 304 and again.content == b""
    assert urls[0].endswith(".css") and (await client.get(urls[0])).text.startswith(".swagger-ui")
    assert (await client.get(urls[1])).content.startswith(b"\x89PNG")
    assert b"SwaggerUIBundle" in (await client.get(urls[2])).content


async def test_only_the_api_references_own_files_are_served(client: httpx.AsyncClient) -> None:
    for name in ("index.html", "..%2F..%2Fmain.py", "swagger-ui.js"):
        missing = await client.get(f"/api/docs/assets/{name}")
        assert missing.status_code == 404
        assert missing.headers["content-type"].startswith("application/problem+json")


async def test_the_api_reference_csp_allows_own_origin_and_its_one_inline_script(
    client: httpx.AsyncClient,
) -> None:
    page = await client.get("/api/docs")
    policy = csp(page)
    assert policy["default-src"] == ["'none'"]
    for directive in ("script-src", "style-src", "img-src", "connect-src"):
        assert "'self'" in policy[directive], directive
    sources = [s for values in policy.values() for s in values]
    assert not [s for s in sources if "://" in s or "." in s or s == "*"], "an origin other than Keel's"
    assert set(policy["img-src"]) == {"'self'", "data:"}  # Swagger UI's icons are data: URLs in its CSS
    assert set(policy["connect-src"]) == {"'self'"}
    assert not {"'unsafe-inline'", "'unsafe-eval'", "data:", "blob:"} & set(policy["script-src"])
    assert "'unsafe-inline'" not in policy["style-src"]
    inline = refs(page.text).inline_scripts
    assert len(inline) == 1
    digest = base64.b64encode(hashlib.sha256(inline[0].encode()).digest()).decode()
    assert set(policy["script-src"]) == {"'self'", f"'sha256-{digest}'"}
    assert_security_headers(page)


async def test_the_api_reference_reads_the_openapi_document_from_its_own_origin(
    client: httpx.AsyncClient,
) -> None:
    script = refs((await client.get("/api/docs")).text).inline_scripts[0]
    url = re.search(r"url: '([^']*)'", script)
    assert url and same_origin(url[1])
    document = await client.get(url[1])
    assert document.status_code == 200
    assert document.json()["openapi"].startswith("3.")
    assert "/api/docs" not in document.json()["paths"] and "/" not in document.json()["paths"]


def test_the_api_reference_needs_an_openapi_document() -> None:
    with pytest.raises(ValueError, match="openapi_url"):
        install_api_docs(FastAPI(openapi_url=None, docs_url=None))


async def test_responses_without_a_policy_of_their_own_load_nothing(client: httpx.AsyncClient) -> None:
    for path in ("/healthz", "/api/openapi.json", "/api/v1/organization"):
        assert csp(await client.get(path)) == {
            "default-src": ["'none'"],
            "frame-ancestors": ["'none'"],
            "base-uri": ["'none'"],
        }, path


# --- the front door ------------------------------------------------------------------------------


async def test_the_front_door_says_what_this_is_and_where_to_go(client: httpx.AsyncClient) -> None:
    page = await client.get("/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert page.headers["cache-control"] == "no-store"
    assert '<html lang="en">' in page.text and "<h1>Keel</h1>" in page.text
    assert PUBLIC_URL in page.text and "test instance" in page.text
    assert "web app is coming" in page.text
    links = {url for tag, url in refs(page.text).urls if tag == "a"}
    assert links == FRONT_DOOR_LINKS  # no link to the web app's port, where nothing listens yet
    for link in sorted(links):
        assert (await client.get(link)).status_code == 200, link


async def test_the_front_door_has_the_sign_in_pages_headers(client: httpx.AsyncClient) -> None:
    page = await client.get("/")
    assert_security_headers(page)
    policy = csp(page)
    assert policy["default-src"] == ["'none'"] and "script-src" not in policy
    nonce = policy["style-src"][0].removeprefix("'nonce-").removesuffix("'")
    assert f'<style nonce="{nonce}">' in page.text
    sources = [s for values in policy.values() for s in values]
    assert "'unsafe-inline'" not in sources and not [s for s in sources if "://" in s]


# --- in a real browser, when the machine has one ---------------------------------------------------

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture
def served() -> Iterator[str]:
    """The app on a loopback port (the API reference needs no database)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = uvicorn.Config(
        create_app(get_settings()), host="127.0.0.1", port=port, lifespan="off", log_level="warning"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)


@pytest.mark.slow
def test_chromium_renders_the_api_reference_without_a_policy_violation(served: str) -> None:
    assert CHROMIUM, "install Debian's chromium (apt-get install chromium; .ci/run does)"
    shown = subprocess.run(
        [
            str(CHROMIUM),
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--enable-logging=stderr",
            "--log-level=0",  # console messages, CSP violations among them, go to stderr
            "--virtual-time-budget=10000",
            "--dump-dom",
            f"{served}/api/docs",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert "Content Security Policy" not in shown.stderr, shown.stderr[-2000:]
    assert shown.stdout.count("opblock-summary-path") >= 20, "Swagger UI did not render the operations"
