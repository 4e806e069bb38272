"""The Nmbrs REST API through httpx, in its own terms (`payroll.nmbrs_rest.model`).

Every call sends the bearer token and the app's subscription key; lists are read to the last page
(100 rows a page: page one first, then every other page at once); Nmbrs' error bodies become the
core's typed errors. "Too many calls" (42908) is retried with exponential backoff and full
jitter; a used-up quota (42909) is not. 401, 5xx, timeouts and answers that are not JSON are
"unavailable". Logs say which call and its status, never a token, key or body.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Hashable, Mapping
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass
from functools import partial
from typing import Any, TypeVar

import httpx

from bot.core.payroll import (
    NoAccess,
    NoSubscription,
    PermissionsMissing,
    ProviderError,
    ProviderUnavailable,
    QuotaExceeded,
    Throttled,
    provider_name,
)
from payroll.nmbrs_rest.http import MAX_ANSWER_BYTES, CappedTransport, timeouts
from payroll.nmbrs_rest.model import (
    COMPANY_INFO,
    USER_INFO,
    Company,
    ConnectCheck,
    Debtor,
    User,
    covers,
    missing_scopes,
)

logger = logging.getLogger(__name__)

DEFAULT_REST_URL = "https://api.nmbrsapp.com"
PAGE_SIZE = 100  # Nmbrs' largest (spec §4)
# Enough for every page after the first of five debtors of 1,000 companies in one round trip.
MAX_CONCURRENT_CALLS = 50

DEBTORS = "/api/debtors"
COMPANIES = "/api/companies"
USER = "/api/user/info"

TOO_MANY_CALLS = "42908"
QUOTA_EXCEEDED = "42909"
SEVERAL_DEBTORS = "40306"
NO_ACCESS_CODES = frozenset({"40303", "40305"})
NO_SUBSCRIPTION = "40304"

_LONGEST_DETAIL = 200

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


def debtor_companies(debtor_id: str) -> str:
    return f"/api/debtors/{debtor_id}/companies"


class SeveralDebtors(Exception):
    """`/api/companies` refuses a consent that spans more than one debtor (40306): list them per
    debtor instead. Never leaves this module."""


@dataclass(frozen=True)
class Page:
    rows: list[dict[str, Any]]
    total_pages: int


class RestNmbrsClient:
    """The calls of the Nmbrs REST API a link needs. Blocking; safe to share between threads.
    Raises the core's `ProviderError`s. `close()` when done."""

    def __init__(
        self,
        subscription_key: str,
        *,
        rest_url: str = DEFAULT_REST_URL,
        connect_timeout: float = 5.0,
        read_timeout: float = 20.0,
        max_concurrent_calls: int = MAX_CONCURRENT_CALLS,
        max_answer_bytes: int = MAX_ANSWER_BYTES,
        attempts: int = 4,
        first_backoff: float = 0.5,
        longest_backoff: float = 8.0,
        sleep: Callable[[float], None] = time.sleep,
        jitter: Callable[[], float] = random.random,
    ):
        self.rest_url = rest_url.rstrip("/")
        self._attempts = attempts
        self._first_backoff = first_backoff
        self._longest_backoff = longest_backoff
        self._sleep = sleep
        self._jitter = jitter
        self._http = httpx.Client(
            base_url=self.rest_url,
            timeout=timeouts(connect_timeout, read_timeout),
            transport=CappedTransport(
                max_answer_bytes=max_answer_bytes,
                limits=httpx.Limits(
                    max_connections=max_concurrent_calls,
                    max_keepalive_connections=max_concurrent_calls,
                ),
            ),
            headers={"Accept": "application/json", "X-Subscription-Key": subscription_key},
            trust_env=False,
        )
        self._pool = ThreadPoolExecutor(max_concurrent_calls, thread_name_prefix="nmbrs-rest")

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._http.close()

    # -- the API ------------------------------------------------------------------------------

    def check(self, access_token: str, scopes: tuple[str, ...]) -> ConnectCheck:
        """The connect check: the required scopes not granted, and (when the grant may read
        them) the debtors, every company of every debtor and the approving user. One round trip
        for debtors, companies and user; one more per debtor when the consent spans several
        (40306), and one for the pages after the first."""
        missing = missing_scopes(scopes)
        if not covers(scopes, COMPANY_INFO):
            return ConnectCheck(debtors=[], companies=[], user=None, missing_scopes=missing)
        first: dict[str, Callable[[], Any]] = {
            DEBTORS: partial(self._page, access_token, DEBTORS, 1),
            COMPANIES: partial(self._page_unless_several_debtors, access_token, COMPANIES),
        }
        if covers(scopes, USER_INFO):
            first[USER] = partial(self._get, access_token, USER, {})
        answers = self._gather(first)
        user = _user(answers[USER]) if USER in answers else None
        companies_page: Page | None = answers[COMPANIES]
        first_pages = {DEBTORS: answers[DEBTORS]}
        if companies_page is not None:
            first_pages[COMPANIES] = companies_page
        lists = self._rest_of_lists(access_token, first_pages)
        debtors = [_debtor(row) for row in lists[DEBTORS]]
        if companies_page is not None:
            rows = lists[COMPANIES]
        else:
            rows = [row for rows in self._lists_per_debtor(access_token, debtors) for row in rows]
        return ConnectCheck(
            debtors=debtors, companies=_companies(rows), user=user, missing_scopes=missing
        )

    def debtors(self, access_token: str) -> list[Debtor]:
        return [_debtor(row) for row in self._read_list(access_token, DEBTORS)]

    def companies(self, access_token: str) -> list[Company]:
        """Every company the login can see: all debtors, all pages."""
        try:
            return _companies(self._read_list(access_token, COMPANIES))
        except SeveralDebtors:
            rows = self._lists_per_debtor(access_token, self.debtors(access_token))
            return _companies([row for debtor_rows in rows for row in debtor_rows])

    # -- lists --------------------------------------------------------------------------------

    def _read_list(self, access_token: str, path: str) -> list[dict[str, Any]]:
        page = self._page(access_token, path, 1)
        return self._rest_of_lists(access_token, {path: page})[path]

    def _lists_per_debtor(
        self, access_token: str, debtors: list[Debtor]
    ) -> list[list[dict[str, Any]]]:
        paths = [debtor_companies(debtor.debtor_id) for debtor in debtors]
        firsts = self._gather({path: partial(self._page, access_token, path, 1) for path in paths})
        rest = self._rest_of_lists(access_token, firsts)
        return [rest[path] for path in paths]

    def _rest_of_lists(
        self, access_token: str, first_pages: Mapping[str, Page]
    ) -> dict[str, list[dict[str, Any]]]:
        """Every list whole: the pages after each first page, all at once."""
        more = {
            (path, number): partial(self._page, access_token, path, number)
            for path, page in first_pages.items()
            for number in range(2, page.total_pages + 1)
        }
        pages = self._gather(more)
        return {
            path: page.rows
            + [row for number in range(2, page.total_pages + 1) for row in pages[path, number].rows]
            for path, page in first_pages.items()
        }

    def _page(self, access_token: str, path: str, number: int) -> Page:
        body = self._get(access_token, path, {"pageNumber": number, "pageSize": PAGE_SIZE})
        rows = body.get("data")
        if not isinstance(rows, list) or not all(isinstance(row, dict) for row in rows):
            raise ProviderUnavailable(f"{path}: Nmbrs' answer has no list of data")
        pagination = body.get("pagination")
        total = pagination.get("totalPages") if isinstance(pagination, dict) else None
        return Page(rows, total if isinstance(total, int) and total > 0 else 1)

    def _page_unless_several_debtors(self, access_token: str, path: str) -> Page | None:
        try:
            return self._page(access_token, path, 1)
        except SeveralDebtors:
            return None

    # -- calls --------------------------------------------------------------------------------

    def _get(self, access_token: str, path: str, params: Mapping[str, Any]) -> dict[str, Any]:
        """One GET, retried while Nmbrs says "too many calls"."""
        for attempt in range(1, self._attempts + 1):
            try:
                return self._get_once(access_token, path, params)
            except _TooManyCalls as throttled:
                if attempt == self._attempts:
                    break
                self._sleep(self._backoff(attempt, throttled.retry_after))
        raise Throttled(
            f"{path}: Nmbrs still answered 'too many calls' after {self._attempts} tries"
        )

    def _backoff(self, attempt: int, retry_after: float | None) -> float:
        """Full jitter (a random wait up to the exponential ceiling); at least Retry-After."""
        ceiling = min(self._longest_backoff, self._first_backoff * 2.0 ** (attempt - 1))
        wait_for = ceiling * self._jitter()
        if retry_after is not None:
            wait_for = max(wait_for, min(retry_after, self._longest_backoff))
        return wait_for

    def _get_once(self, access_token: str, path: str, params: Mapping[str, Any]) -> dict[str, Any]:
        try:
            response = self._http.get(
                path, params=dict(params), headers={"Authorization": f"Bearer {access_token}"}
            )
        except httpx.TimeoutException:
            raise ProviderUnavailable(f"{path}: Nmbrs did not answer in time") from None
        except httpx.HTTPError as failed:
            raise ProviderUnavailable(
                f"{path}: Nmbrs could not be read ({type(failed).__name__})"
            ) from None
        logger.debug(
            "Nmbrs REST %s: HTTP %d, %d bytes", path, response.status_code, len(response.content)
        )
        body = _json(response)
        if response.status_code == 200:
            if body is None:
                raise ProviderUnavailable(f"{path}: Nmbrs sent an answer that is not JSON")
            return body
        raise _error(path, response, body)

    # -- plumbing -----------------------------------------------------------------------------

    def _gather(self, calls: Mapping[K, Callable[[], V]]) -> dict[K, V]:
        """Run the calls on the pool; the first failure cancels what has not started yet."""
        if len(calls) == 1:
            ((key, call),) = calls.items()
            return {key: call()}
        futures = {key: self._pool.submit(call) for key, call in calls.items()}
        _, pending = wait(futures.values(), return_when=FIRST_EXCEPTION)
        if pending:
            for future in pending:
                future.cancel()
            wait(pending)
        for future in futures.values():
            if not future.cancelled() and future.exception() is not None:
                raise future.exception()  # type: ignore[misc]
        return {key: future.result() for key, future in futures.items()}


class _TooManyCalls(Exception):
    def __init__(self, retry_after: float | None):
        self.retry_after = retry_after


def _json(response: httpx.Response) -> dict[str, Any] | None:
    try:
        body = response.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def _error(path: str, response: httpx.Response, body: dict[str, Any] | None) -> Exception:
    """The typed error for a refusal; Nmbrs' error body is {type, httpStatus, code, title,
    detail, ...} (spec §4), a gateway's may be {statusCode, message} or HTML."""
    status = response.status_code
    code = str(body.get("code", "")) if body else ""
    title = str(body.get("title", "")) if body else ""
    detail = f"{path}: Nmbrs answered HTTP {status}" + (f" {code} {title}".rstrip() if code else "")
    detail = detail[:_LONGEST_DETAIL]
    if status == 429:
        if code == QUOTA_EXCEEDED:
            return QuotaExceeded(detail)
        return _TooManyCalls(_retry_after(response))
    if status == 403:
        if code == SEVERAL_DEBTORS:
            return SeveralDebtors(detail)
        if code in NO_ACCESS_CODES:
            return NoAccess(detail)
        if code == NO_SUBSCRIPTION:
            return NoSubscription(detail)
        # A missing scope has no known code (spec §4): the check compares scopes before it
        # calls, so this is a scope taken away since, or one Nmbrs wants beyond the spec.
        return PermissionsMissing([_scope_of(path)])
    if status == 401 or status >= 500 or body is None:
        return ProviderUnavailable(detail)
    return ProviderError(detail)


def _retry_after(response: httpx.Response) -> float | None:
    try:
        seconds = float(response.headers.get("Retry-After", ""))
    except ValueError:
        return None
    return seconds if seconds >= 0 else None


def _scope_of(path: str) -> str:
    return USER_INFO if path == USER else COMPANY_INFO


def _text(row: Mapping[str, Any], key: str) -> str:
    value = row.get(key)
    return "" if value is None else str(value).strip()


def _name(row: Mapping[str, Any], key: str) -> str:
    return provider_name(_text(row, key), f"Nmbrs sent a {key}")


def _debtor(row: Mapping[str, Any]) -> Debtor:
    return Debtor(
        debtor_id=_text(row, "debtorId"), number=_text(row, "number"), name=_name(row, "name")
    )


def _companies(rows: list[dict[str, Any]]) -> list[Company]:
    """The companies, once each (by companyId), in Nmbrs' order."""
    companies: dict[str, Company] = {}
    for row in rows:
        company_id = _text(row, "companyId")
        if not company_id:
            raise ProviderUnavailable("Nmbrs listed a company without a companyId")
        companies.setdefault(
            company_id,
            Company(
                company_id=company_id,
                number=_text(row, "number"),
                name=_name(row, "name"),
                debtor_id=_text(row, "debtorId"),
            ),
        )
    return list(companies.values())


def _user(body: dict[str, Any]) -> User | None:
    rows = body.get("data")
    row = rows[0] if isinstance(rows, list) and rows else rows
    if not isinstance(row, dict):
        return None
    return User(name=_name(row, "name"), email=_name(row, "email"))
