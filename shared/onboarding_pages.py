"""The small HTML pages the consent callback answers with: every value escaped, nothing loaded.

A customer's administrator lands here from Entra. The page says what happened and what to do,
in plain words, and carries no script, style sheet or image from anywhere (the Content Security
Policy forbids them), no referrer (the URL holds the state) and nothing cacheable.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field

from shared.errors import XtenantError
from shared.onboarding_check import CheckResult

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


def invalid_state_page(problem: XtenantError, *, status: int = 400) -> HtmlPage:
    return HtmlPage(
        status,
        "This consent link cannot be used",
        (
            problem.message,
            problem.remediation,
            "If you did grant consent, it stands in your tenant; the operator can finish "
            "onboarding with a new link or by registering the tenant.",
        ),
    )


def callback_page(
    *, result: CheckResult | None = None, declined: tuple[str, str] | None = None
) -> HtmlPage:
    """The outcome of an admin-consent answer: declined, or consented and checked."""
    if declined is not None:
        code, description = declined
        return HtmlPage(
            200,
            "Consent was not granted",
            (
                "The administrator did not grant the permissions, or Entra ID refused the "
                "request. Nothing was registered.",
                "To try again, ask the operator for a new consent link.",
            ),
            (("error", code), ("description", description)),
        )
    assert result is not None
    return _checked_page(result)


def _checked_page(result: CheckResult) -> HtmlPage:
    details = [("tenant", result.tenant_id)]
    if result.graph_read:
        details.append(("Graph read", result.graph_read))
    for job, permissions in result.missing.items():
        details.append((f"not granted (job {job})", ", ".join(permissions)))
    if result.ok:
        return HtmlPage(
            200,
            "Consent granted: the tenant is connected",
            (
                "The tenant is registered and the connection check passed: xtenant obtained a "
                "token for it and read Microsoft Graph. It is enrolled in no job yet; the "
                "operator chooses which jobs run here.",
            ),
            tuple(details),
        )
    assert result.error is not None
    details += [("error", result.error.error_class), ("message", result.error.message)]
    return HtmlPage(
        200,
        "Consent recorded, but the connection check failed",
        (
            "The tenant is registered. Consent can take a few minutes to take effect; the "
            "operator can repeat the check (POST /api/tenants/{id}/check).",
            result.error.remediation,
        ),
        tuple(details),
    )
