"""Licences: the tenant's commercial subscriptions (SKUs) and the service plans in each.

A small catalogue of real SKUs (part numbers, SKU ids and service plan ids as Microsoft's
"Product names and service plan identifiers for licensing" lists them), enough to give each
scenario tenant a licence profile with or without Entra ID P1, and with or without SharePoint
Online.
https://learn.microsoft.com/graph/api/subscribedsku-list
"""

from __future__ import annotations

from typing import Any

#: service plan name -> id
PLANS = {
    "AAD_PREMIUM": "41781fb2-bc02-4b7c-bd55-b576c07bb09d",
    "AAD_PREMIUM_P2": "eec0eb4f-6444-4f95-aba0-50c24d67f998",
    "EXCHANGE_S_STANDARD": "9aaf7827-d63c-4b61-89c3-182f06f82e5c",
    "SHAREPOINTSTANDARD": "c7699d2e-19aa-44de-8edf-1736da088ca1",
    "SHAREPOINTENTERPRISE": "5dbe027f-2339-4123-9542-606e4d348a72",
    "EXCHANGE_S_ENTERPRISE": "efb87545-963c-4e0d-99df-69c6916d9eb0",
    "EXCHANGE_S_DESKLESS": "4a82b400-a79f-41a4-b4e2-e94f5787b113",
    "SHAREPOINTDESKLESS": "902b47e5-dcb2-4fdc-858b-c63a90a2bdb9",
}
#: SKU part number -> (SKU id, service plans)
SKUS: dict[str, tuple[str, tuple[str, ...]]] = {
    "O365_BUSINESS_ESSENTIALS": (
        "3b555118-da6a-4418-894f-7df1e2096870",
        ("EXCHANGE_S_STANDARD", "SHAREPOINTSTANDARD"),
    ),
    "SPB": (
        "cbdc14ab-d96c-4c30-b9f4-6ada7cdc1d46",
        ("AAD_PREMIUM", "EXCHANGE_S_STANDARD", "SHAREPOINTSTANDARD"),
    ),
    "SPE_E5": (
        "06ebc4ee-1bb5-47dd-8120-11324bc54e06",
        ("AAD_PREMIUM", "AAD_PREMIUM_P2", "EXCHANGE_S_ENTERPRISE", "SHAREPOINTENTERPRISE"),
    ),
    "AAD_PREMIUM": ("078d2b04-f1bd-4111-bbd4-b4b1b354cef4", ("AAD_PREMIUM",)),
    #: Exchange Online (Plan 1): mail without SharePoint
    "EXCHANGESTANDARD": ("4b9405b0-7788-4568-add1-99614e613b69", ("EXCHANGE_S_STANDARD",)),
    #: Microsoft 365 F3: SharePoint Kiosk for frontline workers
    "SPE_F1": (
        "66b55226-6b4f-492c-910c-a3b7a3c9d993",
        ("AAD_PREMIUM", "EXCHANGE_S_DESKLESS", "SHAREPOINTDESKLESS"),
    ),
}
#: what a scenario tenant has unless it says otherwise (Microsoft 365 Business Premium)
DEFAULT_SKUS = ("SPB",)
#: a tenant without Entra ID P1 (Microsoft 365 Business Basic)
NO_P1_SKUS = ("O365_BUSINESS_ESSENTIALS",)
P1_PLANS = frozenset({"AAD_PREMIUM", "AAD_PREMIUM_P2"})
#: SharePoint Online service plans (commercial, education, government, kiosk): a tenant with
#: none of them has no SharePoint tenant (shared.jobs.sharepoint_sharing lists the same)
SHAREPOINT_PLANS = frozenset(
    {
        "SHAREPOINTSTANDARD",
        "SHAREPOINTENTERPRISE",
        "SHAREPOINTSTANDARD_EDU",
        "SHAREPOINTENTERPRISE_EDU",
        "SHAREPOINTSTANDARD_GOV",
        "SHAREPOINTENTERPRISE_GOV",
        "SHAREPOINTDESKLESS",
        "SHAREPOINTDESKLESS_GOV",
    }
)


def check_skus(part_numbers: Any) -> tuple[str, ...]:
    """A scenario's `skus` list, checked against the catalogue (ValueError names the unknown)."""
    if not isinstance(part_numbers, list | tuple) or not all(
        isinstance(p, str) for p in part_numbers
    ):
        raise ValueError("skus must be a list of SKU part numbers")
    unknown = sorted(set(part_numbers) - set(SKUS))
    if unknown:
        raise ValueError(f"unknown skus {unknown}; known: {sorted(SKUS)}")
    return tuple(part_numbers)


def plans_of(part_numbers: tuple[str, ...]) -> frozenset[str]:
    return frozenset(plan for sku in part_numbers for plan in SKUS[sku][1])


def sku_record(tenant_id: str, part_number: str) -> dict[str, Any]:
    sku_id, plans = SKUS[part_number]
    return {
        "accountName": "xtenant-fake",
        "accountId": tenant_id,
        "appliesTo": "User",
        "capabilityStatus": "Enabled",
        "consumedUnits": 1,
        "id": f"{tenant_id}_{sku_id}",
        "skuId": sku_id,
        "skuPartNumber": part_number,
        "subscriptionIds": [],
        "prepaidUnits": {"enabled": 25, "suspended": 0, "warning": 0, "lockedOut": 0},
        "servicePlans": [
            {
                "servicePlanId": PLANS[plan],
                "servicePlanName": plan,
                "provisioningStatus": "Success",
                "appliesTo": "User",
            }
            for plan in plans
        ],
    }
