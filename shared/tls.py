"""The TLS context of every outbound client: the token chain's and Graph's."""

from __future__ import annotations

import ssl


def client_ssl_context() -> ssl.SSLContext:
    """A verifying client context from the trust store the environment names right now.

    Call it at start-up, when a client is built, not per request: the CA bundle the
    environment points at then (SSL_CERT_FILE; the local fake cloud's CA in development and
    tests) is the one trusted for the life of the process. aiohttp's own default context
    cannot be used instead: it is frozen when aiohttp is first imported, which may be before
    the environment is set (docs/decisions.md#tls-trust).
    """
    return ssl.create_default_context()
