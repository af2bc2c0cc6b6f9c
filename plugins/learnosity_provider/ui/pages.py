"""The pages' HTML: Jinja templates with autoescaping on, so ids and error texts from the ledger or
a report can never become markup."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import jinja2
from fastapi import Request
from fastapi.responses import HTMLResponse

_ENV = jinja2.Environment(
    loader=jinja2.PackageLoader("learnosity_provider.ui", "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
)


def _when(value: datetime | None) -> str:
    return f"{value:%Y-%m-%d %H:%M:%S} UTC" if value else "-"


_ENV.filters["when"] = _when


def page(request: Request, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    """Render a page; `root` is where this app is mounted (/learnosity behind any proxy prefix), so
    its links work wherever the api-server is served."""
    root = str(request.scope.get("root_path", "")).rstrip("/")
    html = _ENV.get_template(template).render(root=root, **context)
    return HTMLResponse(html, status_code=status_code, headers={"Cache-Control": "no-store"})
