"""A browser's view of the console for tests: log in, read pages, post forms with their CSRF token."""

from __future__ import annotations

import re
from dataclasses import dataclass
from html import unescape
from typing import Any

from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient

FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def field(page: str, name: str) -> str:
    """The value of the first hidden input `name` on a page."""
    m = re.search(rf'<input type="hidden" name="{name}" value="([^"]*)"', page)
    assert m, f"no hidden {name!r} on the page"
    return unescape(m.group(1))


def text(page: str) -> str:
    """The page's text, tags stripped and entities decoded (what a reader sees)."""
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", page)))


@dataclass
class Console:
    client: TestClient
    csrf: str = ""

    async def login(self, token: str, *, next_path: str = "/ui/") -> ClientResponse:
        form_page = await self.client.get("/ui/login", params={"next": next_path})
        assert form_page.status == 200
        body = await form_page.text()
        resp = await self.client.post(
            "/ui/login",
            data={"token": token, "csrf": field(body, "csrf"), "next": field(body, "next")},
            allow_redirects=False,
        )
        if resp.status == 303:
            page = await self.client.get(resp.headers["Location"])
            self.csrf = field(await page.text(), "csrf")
        return resp

    async def get(self, path: str, **kw: Any) -> tuple[int, str]:
        resp = await self.client.get(path, allow_redirects=False, **kw)
        return resp.status, await resp.text()

    async def post(
        self, path: str, fields: dict[str, str], *, csrf: str | None = None, **kw: Any
    ) -> ClientResponse:
        data = {**fields, "csrf": self.csrf if csrf is None else csrf}
        return await self.client.post(path, data=data, allow_redirects=False, **kw)

    async def post_and_follow(self, path: str, fields: dict[str, str]) -> tuple[int, str]:
        resp = await self.post(path, fields)
        if resp.status != 303:
            return resp.status, await resp.text()
        return await self.get(resp.headers["Location"])
