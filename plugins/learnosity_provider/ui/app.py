"""The delivery page's FastAPI app: one router per page, every route behind Airflow's login."""

from __future__ import annotations

from fastapi import FastAPI

from learnosity_provider.ui import delivery, lookup, reports


def create_app() -> FastAPI:
    app = FastAPI(title="Learnosity deliveries", docs_url=None, redoc_url=None, openapi_url=None)
    app.include_router(delivery.router)
    app.include_router(reports.router)
    app.include_router(lookup.router)
    return app
