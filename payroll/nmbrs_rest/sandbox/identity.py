"""The fake identity service: discovery, the login page (a demo login per case), the consent
page, the token endpoint (authorization code with PKCE S256, rotating single-use refresh tokens)
and revocation, as Nmbrs' IdentityServer answers them (spec §2.2)."""

from __future__ import annotations

import base64
import hashlib
import secrets
import uuid
from html import escape
from urllib.parse import parse_qsl, unquote, urlencode

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from payroll.nmbrs_rest.model import DATA_BY_SCOPE
from payroll.nmbrs_rest.sandbox.world import PendingAuthorization, SandboxState

_PAGE = """<!doctype html><html lang="nl"><head><meta charset="utf-8"><title>{title}</title>
<style>body{{font-family:sans-serif;max-width:40em;margin:2em auto}}button{{margin:.3em 0;
padding:.5em 1em}}li{{margin:.2em 0}}</style></head><body><h1>{title}</h1>{body}</body></html>"""


def page(title: str, body: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(_PAGE.format(title=escape(title), body=body), status_code=status)


def _state(request: Request) -> SandboxState:
    state: SandboxState = request.app.state.sandbox
    return state


def _redirect(uri: str, **params: str) -> RedirectResponse:
    separator = "&" if "?" in uri else "?"
    return RedirectResponse(uri + separator + urlencode(params), status_code=302)


async def _form(request: Request) -> dict[str, str]:
    """An urlencoded form body (every form here is one), without python-multipart."""
    return dict(parse_qsl((await request.body()).decode("utf-8", "replace")))


def _s256(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


async def discovery(request: Request) -> Response:
    base = str(request.base_url).rstrip("/")
    return JSONResponse(
        {
            "issuer": base,
            "authorization_endpoint": f"{base}/connect/authorize",
            "token_endpoint": f"{base}/connect/token",
            "revocation_endpoint": f"{base}/connect/revocation",
            "grant_types_supported": ["authorization_code", "refresh_token"],
            "code_challenge_methods_supported": ["S256"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            "scopes_supported": sorted(_state(request).app.enabled_scopes),
        }
    )


async def authorize(request: Request) -> Response:
    """Check the request as Nmbrs does: an unknown client, a redirect URI not registered exactly
    or a scope not enabled for the client gets an error page and no redirect."""
    state = _state(request)
    query = request.query_params
    app = state.app
    if query.get("client_id") != app.client_id:
        return page("Invalid client", "<p>unknown client_id</p>", 400)
    redirect_uri = query.get("redirect_uri", "")
    if redirect_uri not in app.redirect_uris:
        return page("Invalid redirect_uri", "<p>the redirect_uri is not registered</p>", 400)
    scopes = tuple(query.get("scope", "").split())
    if not scopes or not set(scopes) <= app.enabled_scopes:
        return page("Invalid scope", f"<p>Error id {uuid.uuid4()}</p>", 400)
    given_state = query.get("state", "")
    if query.get("response_type") != "code":
        return _redirect(redirect_uri, error="unsupported_response_type", state=given_state)
    challenge = query.get("code_challenge")
    if challenge is not None and query.get("code_challenge_method", "plain") != "S256":
        return _redirect(redirect_uri, error="invalid_request", state=given_state)
    request_id = secrets.token_urlsafe(16)
    with state.lock:
        state.pending[request_id] = PendingAuthorization(
            app.client_id, redirect_uri, scopes, given_state, challenge
        )
        logins = list(state.logins.values())
    buttons = "".join(
        f'<li><button name="login" value="{escape(login.email)}">{escape(login.email)}</button>'
        f" {escape(login.description)}</li>"
        for login in logins
    )
    return page(
        "Inloggen bij Nmbrs (sandbox)",
        f'<form method="post" action="/connect/login"><input type="hidden" name="request" '
        f'value="{request_id}"><ul>{buttons}</ul></form>',
    )


async def login(request: Request) -> Response:
    state = _state(request)
    form = await _form(request)
    request_id, email = str(form.get("request", "")), str(form.get("login", ""))
    with state.lock:
        pending = state.pending.get(request_id)
        person = state.logins.get(email)
    if pending is None or person is None:
        return page("Sessie verlopen", "<p>Start again from the app.</p>", 400)
    if person.master:
        return page(
            "Geen toegang",
            "<p>An accountant's master login cannot approve an integration. Log in with the "
            "client login (klant login) of the debtor.</p>",
            403,
        )
    data = "".join(
        f"<li><code>{escape(scope)}</code>: {escape(', '.join(DATA_BY_SCOPE.get(scope, ())))}</li>"
        for scope in pending.scopes
    )
    debtors = ", ".join(escape(f"{d.number} {d.name}") for d in person.debtors)
    hidden = (
        f'<input type="hidden" name="request" value="{escape(request_id)}">'
        f'<input type="hidden" name="login" value="{escape(email)}">'
    )
    return page(
        "Toestemming geven",
        f"<p>{escape(person.name)} ({escape(email)}) for {debtors}</p>"
        f"<p>The app asks to read:</p><ul>{data}</ul>"
        f'<form method="post" action="/connect/consent">{hidden}'
        '<button name="decision" value="approve">Toestaan</button> '
        '<button name="decision" value="refuse">Weigeren</button></form>',
    )


async def consent(request: Request) -> Response:
    state = _state(request)
    form = await _form(request)
    request_id, email = str(form.get("request", "")), str(form.get("login", ""))
    with state.lock:
        pending = state.pending.pop(request_id, None)
        person = state.logins.get(email)
    if pending is None or person is None or person.master:
        return page("Sessie verlopen", "<p>Start again from the app.</p>", 400)
    if form.get("decision") != "approve":
        return _redirect(pending.redirect_uri, error="access_denied", state=pending.state)
    granted = tuple(scope for scope in pending.scopes if scope not in person.unticks)
    code = state.issue_code(pending, email, granted)
    return _redirect(pending.redirect_uri, code=code, scope=" ".join(granted), state=pending.state)


def _oauth_error(error: str, status: int = 400) -> JSONResponse:
    return JSONResponse({"error": error}, status_code=status, headers={"Cache-Control": "no-store"})


def _client_authenticated(request: Request, form: dict[str, str]) -> bool:
    app = _state(request).app
    header = request.headers.get("Authorization", "")
    if header.startswith("Basic "):
        try:
            decoded = base64.b64decode(header[6:]).decode("utf-8")
        except ValueError:
            return False
        client_id, _, secret = decoded.partition(":")
        client_id, secret = unquote(client_id), unquote(secret)
    else:
        client_id, secret = form.get("client_id", ""), form.get("client_secret", "")
    return client_id == app.client_id and secrets.compare_digest(secret, app.client_secret)


async def token(request: Request) -> Response:
    state = _state(request)
    form = await _form(request)
    if not _client_authenticated(request, form):
        return _oauth_error("invalid_client", 401)
    grant_type = form.get("grant_type")
    if grant_type == "authorization_code":
        return _exchange_code(state, form)
    if grant_type == "refresh_token":
        return _refresh(state, form)
    return _oauth_error("unsupported_grant_type")


def _exchange_code(state: SandboxState, form: dict[str, str]) -> Response:
    with state.lock:
        issued = state.codes.get(form.get("code", ""))
        if issued is None or issued.expires_at <= state.now():
            return _oauth_error("invalid_grant")
        if issued.used:  # a replayed code: RFC 6749 §4.1.2 revokes what it gave
            state.kill_family(issued.family)
            return _oauth_error("invalid_grant")
        issued.used = True
        if form.get("redirect_uri") != issued.redirect_uri:
            return _oauth_error("invalid_grant")
        if issued.code_challenge is not None:
            verifier = form.get("code_verifier", "")
            if not verifier or not secrets.compare_digest(_s256(verifier), issued.code_challenge):
                return _oauth_error("invalid_grant")
        answer = state.issue_tokens(issued.login, issued.scopes, issued.family)
    return JSONResponse(answer, headers={"Cache-Control": "no-store"})


def _refresh(state: SandboxState, form: dict[str, str]) -> Response:
    with state.lock:
        issued = state.refresh_tokens.get(form.get("refresh_token", ""))
        if issued is None or issued.family in state.dead_families:
            return _oauth_error("invalid_grant")
        if issued.used:  # a rotated refresh token used again: the whole grant dies
            state.kill_family(issued.family)
            return _oauth_error("invalid_grant")
        if issued.expires_at <= state.now():
            return _oauth_error("invalid_grant")
        issued.used = True
        answer = state.issue_tokens(issued.login, issued.scopes, issued.family)
    return JSONResponse(answer, headers={"Cache-Control": "no-store"})


async def revocation(request: Request) -> Response:
    """RFC 7009: 200 whether or not the token was known; revoking kills its grant."""
    state = _state(request)
    form = await _form(request)
    if not _client_authenticated(request, form):
        return _oauth_error("invalid_client", 401)
    value = form.get("token", "")
    with state.lock:
        issued = state.refresh_tokens.get(value) or state.access_tokens.get(value)
        if issued is not None:
            state.kill_family(issued.family)
    return Response(status_code=200)


routes = [
    Route("/.well-known/openid-configuration", discovery),
    Route("/connect/authorize", authorize),
    Route("/connect/login", login, methods=["POST"]),
    Route("/connect/consent", consent, methods=["POST"]),
    Route("/connect/token", token, methods=["POST"]),
    Route("/connect/revocation", revocation, methods=["POST"]),
]
