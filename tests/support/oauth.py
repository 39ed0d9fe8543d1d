"""The OAuth 2 authorization-code flow with PKCE, as a third-party web app runs it."""

import base64
import hashlib
import secrets
from dataclasses import dataclass
from urllib.parse import parse_qs, urlparse

from oauth2_provider.models import Application

REDIRECT_URI = "https://partner.example/callback"


@dataclass
class AuthorizationCode:
    app: Application
    code: str
    verifier: str
    query: dict[str, list[str]]  # the redirect's query: code, state


def authorization_code_issue(client, user, *, scope: str, state: str = "xyz") -> AuthorizationCode:
    """A public app with PKCE; `user` approves it in a browser session, which ends after."""
    app = Application.objects.create(
        name="Partner web app",
        client_id="partner-web",
        client_type=Application.CLIENT_PUBLIC,
        authorization_grant_type=Application.GRANT_AUTHORIZATION_CODE,
        redirect_uris=REDIRECT_URI,
        skip_authorization=True,
    )
    verifier = secrets.token_urlsafe(48)
    challenge = (
        base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    )
    client.force_login(user)  # the resource owner's browser session
    authorize = client.get(
        "/o/authorize/",
        {
            "response_type": "code",
            "client_id": app.client_id,
            "redirect_uri": REDIRECT_URI,
            "scope": scope,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
            "state": state,
        },
    )
    assert authorize.status_code == 302, authorize.content
    client.logout()
    query = parse_qs(urlparse(authorize["Location"]).query)
    return AuthorizationCode(app=app, code=query["code"][0], verifier=verifier, query=query)


def authorization_code_exchange(client, issued: AuthorizationCode):
    """The app's back end trades the code for tokens at /o/token/."""
    return client.post(
        "/o/token/",
        {
            "grant_type": "authorization_code",
            "client_id": issued.app.client_id,
            "code": issued.code,
            "redirect_uri": REDIRECT_URI,
            "code_verifier": issued.verifier,
        },
    )
