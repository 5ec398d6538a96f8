"""HTTP layer shared by every QTickets stream: GET-only session, GET+JSON body, paging, retries."""

from __future__ import annotations

import logging
import typing as t
from functools import cached_property
from http import HTTPStatus
from urllib.parse import urlsplit

import msgspec
import requests
from singer_sdk import singerlib as singer
from singer_sdk.exceptions import RetriableAPIError
from singer_sdk.helpers.conform import TypeConformanceLevel
from singer_sdk.pagination import BaseAPIPaginator
from singer_sdk.streams import RESTStream
from singer_sdk.streams.rest import HTTPRequest, PageContext

from tap_qtickets._fastpath import FastRecordWrites, PrefetchedPages
from tap_qtickets.auth import QTicketsAuthenticator
from tap_qtickets.decoding import JSON_DECODER, body_of, decode_json, remember
from tap_qtickets.errors import MethodNotAllowedError, QTicketsError, RetriesExhaustedError
from tap_qtickets.normalize import RecordNormalizer
from tap_qtickets.pagination import QTicketsPaginator, paging_of
from tap_qtickets.schemas import (
    ACCOUNT,
    DEFAULT_ACCOUNT,
    mark_pii,
    selected_schema,
    stream_schema,
)
from tap_qtickets.shared import RunShared

if t.TYPE_CHECKING:
    from singer_sdk.helpers.types import Context

MAX_RETRY_AFTER_SECONDS = 300.0
LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}
BODY_CHUNK_BYTES = 1 << 20
BAD_URL_ERRORS = (requests.exceptions.InvalidSchema, requests.exceptions.InvalidURL,
                  requests.exceptions.MissingSchema)


class GetOnlySession(requests.Session):
    """The hard guard: QTickets POST/PUT/DELETE create orders, refund tickets or mark them scanned.

    A refused connection to this machine ends the run at once: nothing listens there, retrying cannot
    help (`owner`, the stream, is named in that message).

    Bodies are read in 1 MB chunks, not requests' 10 KB: a page is read by a worker thread while the
    previous one is processed (PrefetchedPages), and after every chunk the reader waits for the GIL —
    ~160 waits for a 1.6 MB page of 500 orders, which made the reader slower than the processing."""

    def __init__(self, owner: str = "tap-qtickets") -> None:
        super().__init__()
        self.owner = owner
        self._proxies: dict[tuple[str, str], dict[str, str]] = {}

    def send(self, request: requests.PreparedRequest, **kwargs: t.Any) -> requests.Response:
        if (request.method or "").upper() != "GET":
            msg = f"refusing to send {request.method} {request.path_url}: tap-qtickets only issues GET"
            raise MethodNotAllowedError(msg)
        if "proxies" not in kwargs:
            kwargs["proxies"] = self.proxies_for(request)
        stream = kwargs.pop("stream", False)
        try:
            response = super().send(request, stream=True, **kwargs)
        except requests.exceptions.ConnectionError as exc:
            parts = urlsplit(request.url or "")
            if parts.hostname in LOOPBACK_HOSTS and _refused(exc):
                msg = (f"{self.owner}: nothing listens at {parts.scheme}://{parts.netloc} (connection "
                       f"refused): check the base_url setting, or start the API there")
                raise QTicketsError(msg) from None
            raise
        if not stream:  # what requests does for stream=False (`Response.content`), in larger reads
            response._content = b"".join(response.iter_content(BODY_CHUNK_BYTES))
        return response

    def proxies_for(self, request: requests.PreparedRequest) -> dict[str, str]:
        """requests' own choice of proxy (HTTP(S)_PROXY, NO_PROXY), made once per scheme and host: it reads
        the environment a few times per request (~0.15 ms, as much as preparing the request)."""
        parts = urlsplit(request.url or "")
        key = (parts.scheme, parts.netloc)
        if key not in self._proxies:
            self._proxies[key] = requests.utils.resolve_proxies(request, self.proxies, self.trust_env)
        return self._proxies[key]


class QTicketsStream(FastRecordWrites, PrefetchedPages, RESTStream[t.Any]):
    """Base stream: `GET base_url/path` with the list options as a JSON body, `{"data","paging"}` answers."""

    order_by: t.ClassVar[dict[str, str]] = {"id": "asc"}
    paginated = True

    def __init__(self, tap: t.Any, **kwargs: t.Any) -> None:
        self.account = str(tap.config.get("account") or DEFAULT_ACCOUNT)
        kwargs.setdefault("schema", stream_schema(self.name, self.account))
        self.shared: RunShared = tap.shared
        self.include_pii = bool(tap.config.get("include_pii", False))
        self.session = GetOnlySession(self.name)
        super().__init__(tap, **kwargs)
        self.primary_keys = (*self.primary_keys, ACCOUNT)  # ids may repeat across accounts
        self.pages_fetched = 0
        self.records_written = 0
        self.api_total: int | None = None  # the `paging.total` of the last page read

    @property
    def requests_session(self) -> requests.Session:
        return self.session

    @property
    def metadata(self) -> singer.MetadataMapping:
        # Personal data stays out unless include_pii: its properties cannot be selected, whatever a
        # catalog says (Meltano shows them as excluded; no deselect rules are needed anywhere).
        return mark_pii(super().metadata, self.name, include_pii=self.include_pii)

    # Records are already conformed by `normalize` (compiled from the schema); the SDK's generic
    # per-value conformance would double the per-record cost.
    TYPE_CONFORMANCE_LEVEL = TypeConformanceLevel.NONE

    @cached_property
    def normalize(self) -> RecordNormalizer:
        """Compiled from the selected properties only: deselected ones (PII among them) are dropped here."""
        keys = [key for key in self.primary_keys or () if key != ACCOUNT]
        schema = selected_schema(self.schema, self.mask)
        schema["properties"].pop(ACCOUNT, None)  # not the API's: set as each record is written
        return RecordNormalizer(schema, self.name, key=keys[0] if len(keys) == 1 else None)

    # --- request building -------------------------------------------------------------------------

    @property
    def url_base(self) -> str:
        return str(self.config["base_url"]).rstrip("/")

    @cached_property
    def authenticator(self) -> QTicketsAuthenticator:
        return QTicketsAuthenticator(token=self.config["api_token"])

    @property
    def http_headers(self) -> dict:
        return {"Accept": "application/json", "Cache-Control": "no-cache"}

    @property
    def timeout(self) -> float:  # type: ignore[override]
        return float(self.config.get("request_timeout", 60))

    @property
    def page_size(self) -> int:
        return int(self.config.get("page_size", 100))

    @property
    def live_show_hours(self) -> float:
        """A show is live until this many hours after it finished (seat snapshots, ticket re-reads)."""
        return float(self.config.get("inventory_show_window", 24))

    def get_new_paginator(self) -> BaseAPIPaginator | None:
        return QTicketsPaginator() if self.paginated else None

    def list_options(self, page: int) -> dict:
        """List options understood by /orders, /events, /clients...: sent as a JSON body on GET."""
        return {"page": page, "per_page": self.page_size, "orderBy": dict(self.order_by)}

    def prepare_request_payload(self, context: Context | None, next_page_token: t.Any) -> dict | None:
        return self.list_options(next_page_token or 1) if self.paginated else None

    def get_http_request(self, *, page: PageContext) -> HTTPRequest:
        request = super().get_http_request(page=page)
        path = self.page_path(page.next_page_token)
        if path is not None:
            request.url = self.url_base + path
        return request

    def gone_is_empty(self, path: str) -> bool:
        """Whether a JSON 404 for `path` means "removed" (requests per show): the answer then has no body."""
        return False

    def decoder_for(self, path: str) -> msgspec.json.Decoder:
        """How the answers for `path` are decoded (a stream that reads many rows decodes only what it keeps).
        Chosen by the path, not the read in progress: answers are validated in the page reader's thread."""
        return JSON_DECODER

    def page_path(self, token: t.Any) -> str | None:
        """The path of the page `token` names, when it is not `path` (requests made per show)."""
        return None

    # --- responses -------------------------------------------------------------------------------

    def validate_response(self, response: requests.Response) -> None:
        """Classify an answer; also parses the body so a truncated JSON body is retried, not fatal."""
        self.shared.clock.observe(response)
        with self.shared.lock:
            self.shared.sync.requests[self.name] += 1
        status = response.status_code
        path = requests.utils.urlparse(response.url).path
        content_type = response.headers.get("Content-Type", "")
        if status == HTTPStatus.NOT_FOUND and "json" in content_type and self.gone_is_empty(path):
            remember(response, None)  # the show was removed since the events were listed: nothing to read
            return
        if status == HTTPStatus.FORBIDDEN:
            msg = (f"QTickets answered 403 ({self._error_code(response)}) for GET {path}: the api_token "
                   "setting is wrong or revoked")
            raise QTicketsError(msg)
        if status == HTTPStatus.TOO_MANY_REQUESTS or status >= HTTPStatus.INTERNAL_SERVER_ERROR:
            msg = f"QTickets answered {status} ({self._error_code(response)}) for GET {path}"
            raise RetriableAPIError(msg, response)  # also a proxy's HTML 502/504 page
        if "html" in content_type.lower():
            msg = (f"QTickets answered HTTP {status} with an HTML page for GET {path}: no such API route — "
                   f"check the base_url setting (now {self.url_base!r})")
            raise QTicketsError(msg)
        if status >= HTTPStatus.BAD_REQUEST:
            msg = f"QTickets answered {status} ({self._error_code(response)}) for GET {path}"
            raise QTicketsError(msg)
        try:
            body = decode_json(response.content, self.decoder_for(path))
        except msgspec.ValidationError as exc:
            msg = f"{self.name}: QTickets answered GET {path} with an unexpected shape ({exc})"
            raise QTicketsError(msg) from None
        except ValueError as exc:
            reason = getattr(exc, "msg", None) or str(exc)
            msg = f"QTickets sent an incomplete/invalid JSON body for GET {path} ({reason})"
            raise RetriableAPIError(msg, response) from None
        if isinstance(body, dict) and body.get("status") == "error":
            msg = f"QTickets reported an error for GET {path}: {body.get('code') or body.get('message')}"
            raise QTicketsError(msg)
        remember(response, body)

    @staticmethod
    def _error_code(response: requests.Response) -> str:
        try:
            body = response.json()
        except ValueError:
            return response.reason or "no body"
        if isinstance(body, dict):
            return str(body.get("code") or body.get("error") or response.reason)
        return response.reason or ""

    def parse_response(self, response: requests.Response) -> t.Iterable[dict]:
        self._account_page(response)
        body = body_of(response)
        data = body.get("data") if isinstance(body, dict) else body
        if isinstance(data, dict):  # single object / seat maps: callers override
            data = list(data.values())
        yield from data or []

    def _account_page(self, response: requests.Response) -> None:
        self.pages_fetched += 1
        total = paging_of(response).get("total")
        if total is not None:
            self.api_total = int(total)
        self.shared.progress.tick(self)

    def post_process(self, row: dict, context: Context | None = None) -> dict | None:
        return self.normalize(row)

    # --- paging (the loop: _fastpath.PrefetchedPages) ---------------------------------------------

    def generate_child_contexts(
        self, record: dict, context: Context | None
    ) -> t.Iterable[t.Mapping[str, t.Any] | None]:
        # Leaf streams: the SDK would still build, copy and dispatch one empty child context per record.
        if not self.child_streams:
            return ()
        return super().generate_child_contexts(record, context)

    # --- retries ------------------------------------------------------------------------------

    def backoff_max_tries(self) -> int:
        return int(self.config.get("max_retries", 5)) + 1

    def backoff_jitter(self, value: float) -> float:
        return value  # waits are already bounded and Retry-After must be honoured exactly

    def backoff_wait_generator(self) -> t.Generator[float, t.Any, None]:
        return self.backoff_runtime(value=self._wait_seconds)

    def _wait_seconds(self, exc: Exception) -> float:
        """Retry-After when the server sends it (429/503), else exponential from `retry_backoff_seconds`."""
        response = getattr(exc, "response", None)
        retry_after = response.headers.get("Retry-After") if response is not None else None
        if retry_after:
            try:
                return min(max(float(retry_after), 0.0), MAX_RETRY_AFTER_SECONDS)
            except ValueError:
                pass
        self._retry_attempt = getattr(self, "_retry_attempt", 0) + 1
        base = float(self.config.get("retry_backoff_seconds", 1.0))
        return min(base * 2 ** (self._retry_attempt - 1), 60.0)

    def backoff_handler(self, details: t.Any) -> None:
        exc = details.get("exception")
        self.logger.warning("%s: retry %d in %.1fs after: %s", self.name, details.get("tries", 0),
                            details.get("wait", 0.0), _describe(exc))

    def request_decorator(self, func: t.Callable) -> t.Callable:
        decorated = super().request_decorator(func)
        tries = self.backoff_max_tries()

        def call(*args: t.Any, **kwargs: t.Any) -> requests.Response:
            self._retry_attempt = 0
            try:
                return decorated(*args, **kwargs)
            except BAD_URL_ERRORS as exc:  # never retried: the URL itself is wrong
                msg = (f"{self.name}: the request URL is invalid ({_describe(exc)}): check the base_url "
                       f"setting (now {self.url_base!r})")
                raise QTicketsError(msg) from None
            except (RetriableAPIError, requests.exceptions.RequestException, ConnectionError) as exc:
                msg = f"{self.name}: giving up after {tries} attempts (max_retries): {_describe(exc)}"
                raise RetriesExhaustedError(msg) from None

        return call

    # --- accounting --------------------------------------------------------------------------------

    def position_note(self) -> str:
        """Where the read has got to, for the progress lines (orders: in `updated_at`)."""
        return ""

    def summary(self, requests: int) -> str:
        """The stream's line at the end of the sync (progress.py)."""
        parent = self.parent_stream_type
        if not requests and parent is not None:
            return f"{self.records_written:,} records, from the {parent.name} answers"  # type: ignore[misc]
        pages = f" ({self.pages_fetched} pages)" if self.pages_fetched != requests else ""
        counted = (f"; the API counts {self.api_total}" if self.api_total is not None
                   and self.api_total != self.records_written else "")
        plural = "s" * (requests != 1)
        return f"{self.records_written:,} records from {requests:,} request{plural}{pages}{counted}"


def _refused(exc: BaseException) -> bool:
    """Whether a requests ConnectionError was a refused TCP connection (somewhere in its causes)."""
    seen: list[BaseException] = []
    todo: list[BaseException | None] = [exc]
    while todo:
        current = todo.pop()
        if current is None or current in seen:
            continue
        if isinstance(current, ConnectionRefusedError):
            return True
        seen.append(current)
        todo += [current.__cause__, current.__context__, getattr(current, "reason", None),
                 *(a for a in current.args if isinstance(a, BaseException))]
    return False


def _describe(exc: BaseException | None) -> str:
    """Short error text without URLs' query strings, headers or tokens."""
    if exc is None:
        return "unknown error"
    if isinstance(exc, RetriableAPIError):
        return str(exc.args[0]) if exc.args else type(exc).__name__
    return type(exc).__name__


logging.getLogger("backoff").setLevel(logging.CRITICAL)
