"""`/docs` (Swagger UI) and `/redoc` (ReDoc) from the vendored bundles in `static/vendor/`, so
the API documentation renders with no request leaving the machine (FastAPI's own pages load
both from a CDN). The pages carry a Content-Security-Policy admitting this server alone; the
libraries' runtime styles and ReDoc's search worker are what it admits beyond the dashboard's.
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

router = APIRouter(include_in_schema=False)
CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
       "img-src 'self' data:; font-src 'self' data:; connect-src 'self'; worker-src 'self' "
       "blob:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'")
OPENAPI = "/openapi.json"

SWAGGER = f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>minerflow API</title>
<link rel="icon" href="/static/favicon.svg">
<link rel="stylesheet" href="/static/vendor/swagger-ui/swagger-ui.css">
</head>
<body>
<div id="swagger-ui" data-openapi="{OPENAPI}"></div>
<script src="/static/vendor/swagger-ui/swagger-ui-bundle.js"></script>
<script src="/static/swagger-init.js"></script>
</body>
</html>
"""

REDOC = f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>minerflow API</title>
<link rel="icon" href="/static/favicon.svg">
</head>
<body>
<redoc spec-url="{OPENAPI}"></redoc>
<script src="/static/vendor/redoc/redoc.standalone.js"></script>
</body>
</html>
"""


def _page(html: str) -> HTMLResponse:
    return HTMLResponse(html, headers={"Content-Security-Policy": CSP,
                                       "X-Content-Type-Options": "nosniff"})


@router.get("/docs")
def swagger_ui() -> HTMLResponse:
    return _page(SWAGGER)


@router.get("/redoc")
def redoc() -> HTMLResponse:
    return _page(REDOC)
