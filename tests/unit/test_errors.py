"""classify_token_error(): token-chain wire errors become typed errors with a remediation."""

from __future__ import annotations

import json

import pytest
from azure.core.exceptions import ClientAuthenticationError, ServiceRequestError

from shared import errors
from shared.errors import classify_token_error

TENANT = "33333333-3333-3333-3333-333333333333"
CONSENT = f"https://login.example/{TENANT}/v2.0/adminconsent?client_id=x"


class _Response:
    """What azure-core and classify_token_error read from a response."""

    def __init__(self, status_code: int, body: dict[str, object]) -> None:
        self.status_code = status_code
        self.reason = "Bad Request"
        self._text = json.dumps(body)

    def text(self) -> str:
        return self._text


def entra_error(code: int, status: int = 400) -> ClientAuthenticationError:
    body = {
        "error": "invalid_client",
        "error_description": f"AADSTS{code}: words. Trace ID: t Correlation ID: c Timestamp: now",
        "error_codes": [code],
    }
    message = f"Microsoft Entra ID error '(invalid_client) AADSTS{code}: words.'"
    return ClientAuthenticationError(message=message, response=_Response(status, body))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("code", "kind"),
    [
        (700016, errors.TenantNotOnboarded),
        (500011, errors.TenantNotOnboarded),
        (65001, errors.ConsentMissing),
        (70021, errors.FederationMisconfigured),
        (700211, errors.FederationMisconfigured),
        (700212, errors.FederationMisconfigured),
        (700213, errors.FederationMisconfigured),
        (700222, errors.FederationMisconfigured),
        (700024, errors.AssertionExpired),
        (90002, errors.TenantNotFound),
        (53003, errors.BlockedByPolicy),
        (7000112, errors.AppDisabled),
        (500014, errors.AppDisabled),
        (50196, errors.LoopDetected),
        (90055, errors.TransientError),
        (50000, errors.TransientError),
    ],
)
def test_each_aadsts_code_becomes_its_typed_error(
    code: int, kind: type[errors.XtenantError]
) -> None:
    error = classify_token_error(entra_error(code), tenant_id=TENANT)

    assert type(error) is kind
    assert error.code == code
    assert error.tenant_id == TENANT
    assert error.remediation


@pytest.mark.parametrize("code", [700016, 65001])
def test_consent_errors_point_to_the_onboarding_link_for_the_tenant(code: int) -> None:
    error = classify_token_error(entra_error(code), tenant_id=TENANT)

    assert f"GET /api/onboard?tenant={TENANT}" in error.remediation
    assert "adminconsent" not in error.remediation
    assert error.retryable is False
    assert error.health == "needs_consent"


def test_permanent_errors_are_not_retryable_and_transient_ones_are() -> None:
    assert classify_token_error(entra_error(70021)).retryable is False
    assert classify_token_error(entra_error(90002)).health == "misconfigured"
    assert classify_token_error(entra_error(90055)).retryable is True


def test_code_is_read_from_the_message_when_there_is_no_json_body() -> None:
    exc = ClientAuthenticationError(message="AADSTS53003: Access has been blocked by CA.")

    assert isinstance(classify_token_error(exc), errors.BlockedByPolicy)


@pytest.mark.parametrize("status", [429, 500, 502, 503, 504])
def test_throttling_and_server_errors_without_a_code_are_transient(status: int) -> None:
    exc = ClientAuthenticationError(
        message="busy",
        response=_Response(status, {"error": "temporarily_unavailable"}),  # type: ignore[arg-type]
    )

    assert isinstance(classify_token_error(exc), errors.TransientError)


def test_network_failure_is_transient() -> None:
    assert isinstance(
        classify_token_error(ServiceRequestError("connection reset")), errors.TransientError
    )
    assert isinstance(classify_token_error(ConnectionResetError()), errors.TransientError)


def test_unknown_code_is_unexpected_and_names_the_code() -> None:
    error = classify_token_error(entra_error(9999999))

    assert isinstance(error, errors.UnexpectedError)
    assert "AADSTS9999999" in error.message
    assert error.retryable is False


def test_message_keeps_only_the_first_line_without_trace_ids() -> None:
    error = classify_token_error(entra_error(65001))

    assert "Trace ID" not in error.message
    assert error.as_record()["error_class"] == "consent_missing"
