"""The console's side of OpenID Connect (docs/security.md, "Single sign-on"): the provider's
metadata, the authorization request (code flow with PKCE S256, a state and a nonce), the
code exchanged for tokens (authlib's httpx client), the ID token checked (joserfc: the
provider's keys, issuer, audience, expiry, nonce), the claim that names the roster member
(from the ID token, or from the userinfo endpoint when the token carries only `sub`), and
the provider's sign-out URL when it offers `end_session_endpoint`.

Which member, and with which role, is the roster's decision, never the provider's: the
claim only names them (database/console_auth.py, member_named_by).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx
from authlib.common.errors import AuthlibBaseError
from authlib.common.security import generate_token
from authlib.integrations.httpx_client import AsyncOAuth2Client
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from settings import Settings

SCOPE = "openid email profile"
HTTP_TIMEOUT = 10.0
CLOCK_LEEWAY = 60  # seconds of clock difference with the provider tolerated
# Signatures with the provider's published keys only (never HS*: the client secret as a key).
ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA"]
CALLBACK_PATH = "/console/sign-in/oidc/callback"
SIGNED_OUT_PATH = "/console/sign-in/oidc/signed-out"

_metadata: dict[str, dict[str, Any]] = {}  # by issuer: read once per process


class ProviderError(Exception):
    """The identity provider could not be reached, or answered what we cannot accept."""


@dataclass(frozen=True)
class Flow:
    """What a sign-in keeps between leaving for the provider and coming back."""
    state: str
    nonce: str
    verifier: str


@dataclass(frozen=True)
class Identity:
    subject: str
    value: str | None  # the roster claim's value
    id_token: str


def enabled(settings: Settings) -> bool:
    return bool(settings.oidc_issuer and settings.oidc_client_id)


def redirect_uri(settings: Settings) -> str:
    return settings.public_url + CALLBACK_PATH


async def provider(settings: Settings) -> dict[str, Any]:
    """The provider's discovery document (its issuer checked against OIDC_ISSUER)."""
    issuer = settings.oidc_issuer or ""
    if issuer in _metadata:
        return _metadata[issuer]
    try:
        async with httpx.AsyncClient(timeout=HTTP_TIMEOUT) as http:
            answer = await http.get(f"{issuer}/.well-known/openid-configuration")
            answer.raise_for_status()
            document = answer.json()
    except (httpx.HTTPError, ValueError) as err:
        raise ProviderError(f"the identity provider at {issuer} did not answer: {err}") from None
    if document.get("issuer", "").rstrip("/") != issuer:
        raise ProviderError(f"the identity provider says it is {document.get('issuer')!r}, "
                            f"not {issuer!r} (OIDC_ISSUER)")
    _metadata[issuer] = document
    return document


def _client(settings: Settings) -> AsyncOAuth2Client:
    return AsyncOAuth2Client(
        client_id=settings.oidc_client_id, client_secret=settings.oidc_client_secret,
        scope=SCOPE, redirect_uri=redirect_uri(settings), code_challenge_method="S256",
        token_endpoint_auth_method=("client_secret_basic" if settings.oidc_client_secret
                                    else "none"),
        timeout=HTTP_TIMEOUT)


async def authorization(settings: Settings) -> tuple[str, Flow]:
    """Where to send the browser, and what to keep until it comes back."""
    meta = await provider(settings)
    flow = Flow(generate_token(32), generate_token(32), generate_token(64))
    async with _client(settings) as client:
        url, _ = client.create_authorization_url(
            meta["authorization_endpoint"], state=flow.state, nonce=flow.nonce,
            code_verifier=flow.verifier)
    return url, flow


async def identity(settings: Settings, code: str, flow: Flow) -> Identity:
    """The code exchanged (with the PKCE verifier), the ID token checked, the claim read."""
    meta = await provider(settings)
    claim = settings.oidc_roster_claim
    try:
        async with _client(settings) as client:
            token = await client.fetch_token(meta["token_endpoint"], code=code,
                                             code_verifier=flow.verifier,
                                             grant_type="authorization_code")
            id_token = token.get("id_token")
            if not id_token:
                raise ProviderError("the identity provider sent no ID token")
            claims = await _checked(meta, settings, id_token, flow.nonce)
            found = dict(claims)
            if claim not in found and meta.get("userinfo_endpoint"):
                answer = await client.get(meta["userinfo_endpoint"])
                answer.raise_for_status()
                userinfo = answer.json()
                if userinfo.get("sub") != claims["sub"]:  # OIDC Core 5.3.2
                    raise ProviderError("the provider's userinfo is about someone else")
                found = {**userinfo, **found}
    except httpx.HTTPError as err:
        raise ProviderError(f"the identity provider did not answer: {err}") from None
    except AuthlibBaseError as err:  # the token endpoint refused the code
        raise ProviderError(f"the identity provider refused the sign-in: {err}") from None
    value = found.get(claim)
    if claim == "email" and found.get("email_verified") is False:
        value = None  # an address the provider has not verified names nobody
    return Identity(str(claims["sub"]), str(value) if value else None, id_token)


async def _checked(meta: dict[str, Any], settings: Settings, id_token: str,
                   nonce: str) -> dict[str, Any]:
    async with httpx.AsyncClient(timeout=HTTP_TIMEOUT) as http:
        answer = await http.get(meta["jwks_uri"])
        answer.raise_for_status()
        keys = KeySet.import_key_set(answer.json())
    try:
        token = jwt.decode(id_token, keys, algorithms=ALGORITHMS)
        jwt.JWTClaimsRegistry(
            leeway=CLOCK_LEEWAY,
            iss={"essential": True, "value": meta["issuer"]},
            aud={"essential": True, "value": settings.oidc_client_id or ""},
            sub={"essential": True}, exp={"essential": True}, iat={"essential": True},
            nonce={"essential": True, "value": nonce},
        ).validate(token.claims)
    except (JoseError, ValueError) as err:
        raise ProviderError(f"the ID token cannot be trusted: {err}") from None
    return dict(token.claims)


async def sign_out_url(settings: Settings, id_token: str) -> str | None:
    """The provider's end-session URL for this ID token, back to the console afterwards;
    None when the provider offers none (or cannot be reached: the console session has
    ended all the same)."""
    try:
        meta = await provider(settings)
    except ProviderError:
        return None
    endpoint = meta.get("end_session_endpoint")
    if not endpoint:
        return None
    query = urlencode({"id_token_hint": id_token, "client_id": settings.oidc_client_id,
                       "post_logout_redirect_uri": settings.public_url + SIGNED_OUT_PATH})
    return f"{endpoint}{'&' if '?' in endpoint else '?'}{query}"
