"""The API docs page (Swagger UI) with every asset served by the API itself.

Litestar's render plugins load their scripts from a CDN and start them with an inline script;
this page loads the Swagger UI 5 bundle shipped by the ``openapi-ui-bundles`` package and a
small script of ours from ``/schema/assets``, so its Content-Security-Policy
(:mod:`api.headers`) allows no other origin and no inline code.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from litestar import Request, Router
from litestar.openapi.plugins import OpenAPIRenderPlugin
from litestar.static_files import create_static_files_router
from openapi_ui_bundles.swagger_ui import static_path as swagger_ui_path

ASSETS = "/schema/assets"
_OURS = Path(__file__).resolve().parent / "static"
_BUNDLE = Path(swagger_ui_path)

_PAGE = f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>PVARA API</title>
<link rel="stylesheet" href="{ASSETS}/swagger-ui.css">
<link rel="icon" type="image/png" href="{ASSETS}/favicon-32x32.png">
</head>
<body>
<div id="swagger-ui"></div>
<script src="{ASSETS}/swagger-ui-bundle.js"></script>
<script src="{ASSETS}/docs.js"></script>
</body>
</html>
""".encode()


class LocalSwaggerPlugin(OpenAPIRenderPlugin):
    """``/schema`` and ``/schema/swagger``: Swagger UI from local assets."""

    def __init__(self) -> None:
        super().__init__(path=["/", "/swagger"])

    def render(self, request: Request[Any, Any, Any], openapi_schema: dict[str, Any]) -> bytes:
        return _PAGE


def assets_router() -> Router:
    """The page's assets (public, outside the OpenAPI document)."""
    return create_static_files_router(
        ASSETS,
        directories=[_OURS, _BUNDLE],
        opt={"public": True},
        include_in_schema=False,
    )


__all__ = ["ASSETS", "LocalSwaggerPlugin", "assets_router"]
