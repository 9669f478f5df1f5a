"""HTML for the emulator's pages: string templates whose values are escaped
unless they are already `Html`, so no stored value (a product name, a URL a
caller chose) ever reaches a page as markup."""

from __future__ import annotations

import html
from string import Template

from starlette.responses import HTMLResponse

_LAYOUT = Template(
    """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>$title</title>
<style>
body { font-family: system-ui, sans-serif; max-width: 36rem; margin: 3rem auto; padding: 0 1rem; }
.note { color: #555; font-size: 0.9rem; }
.error { color: #b00020; font-weight: bold; }
form { margin: 1rem 0; }
</style>
</head>
<body>
<p class="note">Stripe emulator: a test-mode page for local development.</p>
<h1>$title</h1>
$body
</body>
</html>
"""
)


class Html(str):
    """Markup that is already safe: a template puts it in as it is."""

    __slots__ = ()


def fill(template: str, **values: object) -> Html:
    """`template` with `$name`s replaced; values that are not `Html` are escaped."""
    return Html(
        Template(template).substitute(
            {
                name: value if isinstance(value, Html) else html.escape(str(value))
                for name, value in values.items()
            }
        )
    )


def join(parts: list[Html]) -> Html:
    return Html("\n".join(parts))


def page(title: str, body: Html, status: int = 200) -> HTMLResponse:
    return HTMLResponse(fill(_LAYOUT.template, title=title, body=body), status_code=status)


def safe_url(url: str | None) -> str | None:
    """`url` if a page may link or redirect to it (http or https only: a
    `javascript:` URL is markup in disguise), else None."""
    if url and url.lower().startswith(("http://", "https://")):
        return url
    return None
