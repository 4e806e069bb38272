"""The fake REST API: the calls the bot makes (debtors, companies, a debtor's companies, the
user), behind the gateway's subscription key and the bearer token, with Nmbrs' paging envelope,
its scope check and its error bodies (spec §3 and §4)."""

from __future__ import annotations

import math
import secrets
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from payroll.nmbrs_rest.model import COMPANY_INFO, USER_INFO, covers
from payroll.nmbrs_rest.sandbox.world import (
    API_ERRORS,
    IssuedToken,
    SandboxCompany,
    SandboxDebtor,
    SandboxLogin,
    SandboxState,
)

DEFAULT_PAGE_SIZE = 20
LARGEST_PAGE_SIZE = 100

T = TypeVar("T")


class Refusal(Exception):
    def __init__(self, response: Response):
        self.response = response


def error_body(
    code: int, detail: str = "", invalid: list[dict[str, str]] | None = None
) -> JSONResponse:
    status, kind, title = API_ERRORS[code]
    body: dict[str, Any] = {
        "type": kind,
        "httpStatus": status,
        "code": code,
        "title": title,
        "detail": detail or title.replace("_", " "),
        "docUrl": "https://developer.nmbrs.com/errors",
    }
    if invalid:
        body["invalid-params"] = invalid
    return JSONResponse(body, status_code=status)


def _forbidden_scope(scope: str) -> JSONResponse:
    # Nmbrs' missing-scope 403 has no known code (spec §4).
    body = {"type": "authenticationError", "httpStatus": 403, "title": "Forbidden",
            "detail": f"the token lacks {scope}"}  # fmt: skip
    return JSONResponse(body, status_code=403)


def _caller(request: Request, scope: str) -> tuple[SandboxState, SandboxLogin]:
    """The login behind the bearer token, after the gateway's key check and the scope check."""
    state: SandboxState = request.app.state.sandbox
    key = request.headers.get("X-Subscription-Key", "")
    if not secrets.compare_digest(key, state.app.subscription_key):
        message = "Access denied due to missing subscription key."
        raise Refusal(JSONResponse({"statusCode": 401, "message": message}, status_code=401))
    authorization = request.headers.get("Authorization", "")
    if not authorization.startswith("Bearer "):
        raise Refusal(error_body(40101))
    issued: IssuedToken | None = state.live_access(authorization.removeprefix("Bearer "))
    if issued is None:
        raise Refusal(error_body(40102))
    login = state.logins.get(issued.login)
    if login is None:
        raise Refusal(error_body(40102))
    if not login.api_subscription:
        raise Refusal(error_body(40304))
    if not covers(issued.scopes, scope):
        raise Refusal(_forbidden_scope(scope))
    return state, login


def _paged(request: Request, items: Sequence[T], row: Callable[[T], dict[str, Any]]) -> Response:
    """One page of `items` in Nmbrs' envelope; only the page's rows are built."""
    query = request.query_params
    try:
        number = int(query.get("pageNumber", "1"))
        size = int(query.get("pageSize", str(DEFAULT_PAGE_SIZE)))
    except ValueError:
        return error_body(40033, invalid=[{"name": "pageNumber", "reason": "not a number"}])
    if not 1 <= size <= LARGEST_PAGE_SIZE:
        return error_body(40033, invalid=[{"name": "pageSize", "reason": "1 to 100"}])
    if number < 1:
        return error_body(40033, invalid=[{"name": "pageNumber", "reason": "from 1"}])
    pages = max(1, math.ceil(len(items) / size))
    base = str(request.url.remove_query_params(["pageNumber", "pageSize"]))

    def link(n: int) -> str:
        return f"{base}?pageNumber={n}&pageSize={size}"

    return JSONResponse(
        {
            "pagination": {
                "pageNumber": number,
                "pageSize": size,
                "firstPage": link(1),
                "lastPage": link(pages),
                "totalPages": pages,
                "totalRecords": len(items),
                "nextPage": link(number + 1) if number < pages else None,
                "previousPage": link(number - 1) if 1 < number <= pages + 1 else None,
            },
            "data": [row(item) for item in items[(number - 1) * size : number * size]],
        }
    )


def _companies_of(login: SandboxLogin, debtor_ids: list[str]) -> list[tuple[str, SandboxCompany]]:
    return [
        (d.debtor_id, c) for d in login.debtors if d.debtor_id in debtor_ids for c in d.companies
    ]


def _company_row(item: tuple[str, SandboxCompany]) -> dict[str, Any]:
    debtor_id, company = item
    return {
        "companyId": company.company_id,
        "number": company.number,
        "name": company.name,
        "debtorId": debtor_id,
    }


def _debtor_row(debtor: SandboxDebtor) -> dict[str, Any]:
    return {"debtorId": debtor.debtor_id, "number": debtor.number, "name": debtor.name}


async def debtors(request: Request) -> Response:
    try:
        _, login = _caller(request, COMPANY_INFO)
    except Refusal as refused:
        return refused.response
    return _paged(request, login.debtors, _debtor_row)


async def companies(request: Request) -> Response:
    try:
        _, login = _caller(request, COMPANY_INFO)
    except Refusal as refused:
        return refused.response
    if len(login.debtors) > 1:
        return error_body(40306, "the consent spans several debtors: list companies per debtor")
    return _paged(request, _companies_of(login, [d.debtor_id for d in login.debtors]), _company_row)


async def debtor_companies(request: Request) -> Response:
    try:
        _, login = _caller(request, COMPANY_INFO)
    except Refusal as refused:
        return refused.response
    debtor_id = request.path_params["debtor_id"]
    if login.debtor(debtor_id) is None:
        return error_body(40303)
    return _paged(request, _companies_of(login, [debtor_id]), _company_row)


async def user_info(request: Request) -> Response:
    try:
        _, login = _caller(request, USER_INFO)
    except Refusal as refused:
        return refused.response
    row = {
        "name": login.name,
        "email": login.email,
        "language": "nl",
        "debtorId": login.debtors[0].debtor_id if login.debtors else None,
        "userId": login.user_id,
    }
    return JSONResponse({"pagination": None, "data": row})


routes = [
    Route("/api/debtors", debtors),
    Route("/api/companies", companies),
    Route("/api/debtors/{debtor_id}/companies", debtor_companies),
    Route("/api/user/info", user_info),
]

OPERATION_BY_ROUTE = {
    "/connect/token": "token",
    "/connect/revocation": "revocation",
    "/api/user/info": "user_info",
    "/api/debtors": "debtors",
    "/api/companies": "companies",
}


def operation_of(path: str) -> str | None:
    if path in OPERATION_BY_ROUTE:
        return OPERATION_BY_ROUTE[path]
    if path.startswith("/api/debtors/") and path.endswith("/companies"):
        return "debtor_companies"
    return None
