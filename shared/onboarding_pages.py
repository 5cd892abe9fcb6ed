"""The small HTML pages the consent callback answers with: every value escaped, nothing loaded.

A customer's administrator lands here from Entra. The page says only whether onboarding was
done, in plain words (the details are for the operator: the audit trail and the registry), and
carries no script, style sheet or image from anywhere (the Content Security
Policy forbids them), no referrer (the URL holds the state) and nothing cacheable.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field

_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
_STYLE = "body{font-family:system-ui,sans-serif;max-width:40em;margin:2em auto;line-height:1.4}"


@dataclass(frozen=True)
class HtmlPage:
    status: int
    title: str
    paragraphs: tuple[str, ...]  # plain text: escaped when rendered
    details: tuple[tuple[str, str], ...] = ()  # (label, value), plain text
    headers: dict[str, str] = field(default_factory=lambda: dict(_HEADERS))

    def html(self) -> str:
        e = html.escape
        body = "".join(f"<p>{e(p)}</p>" for p in self.paragraphs)
        if self.details:
            rows = "".join(f"<dt>{e(k)}</dt><dd>{e(v)}</dd>" for k, v in self.details)
            body += f"<dl>{rows}</dl>"
        return (
            '<!doctype html><html lang="en"><head><meta charset="utf-8">'
            f"<title>xtenant: {e(self.title)}</title><style>{_STYLE}</style></head>"
            f"<body><h1>{e(self.title)}</h1>{body}</body></html>"
        )


def done_page() -> HtmlPage:
    """Consent granted and the tenant connected (new or already known: the same page)."""
    return HtmlPage(
        200,
        "Done: your tenant is connected",
        (
            "Consent was granted and your provider's service can now reach your tenant with "
            "the permissions you reviewed. You can close this page.",
            "You can withdraw the consent at any time by deleting the enterprise application "
            "in your tenant.",
        ),
    )


def not_completed_page() -> HtmlPage:
    """Anything else: the same page whatever went wrong, so it tells a stranger nothing.

    Whether the link was unknown, used or expired, the answer named another tenant, the
    administrator declined, or the tenant could not be reached: the operator finds the reason
    in the audit trail (and, for a registered tenant, in its health).
    """
    return HtmlPage(
        400,
        "Onboarding was not completed",
        (
            "The consent could not be completed. Try the link again, or contact your provider.",
            "If you did grant consent, it stands in your tenant until you delete the enterprise "
            "application.",
        ),
    )
