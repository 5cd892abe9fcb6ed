"""Who may make xtenant act: operators' Entra ID tokens, app roles, and the audit trail.

    tokens.py     verify an access token for the app's own API (PyJWT, imported on first use)
    principal.py  who the verified caller is (user or application)
    roles.py      the app roles and what each permits
    audit.py      the append-only audit trail
    guard.py      the gate each HTTP route passes (function_app uses it)

This package's __init__ imports nothing: shared.services builds the token verifier and the
audit trail, and guard.py needs shared.services.
"""
