"""Schemathesis hooks for scripts/schemathesis (loaded through SCHEMATHESIS_HOOKS).

What schemathesis cannot do from openapi.yaml alone, and the narrow exclusions that
scripts/schemathesis names and justifies (each one is listed there, with the contract's words):

- the credentials: the pass's bearer token, and the payment webhook's signature, an HMAC over the
  exact bytes sent, so computed on the prepared request once its body is final;
- telling apart a rejection the contract asks for from a real one, for the few rules a JSON
  Schema cannot state (a cursor only the server can issue, no product twice in one order) and
  for cases schemathesis labels schema-valid although the document refuses them.

Every dropped failure is counted in schemathesis's summary ("dropped by `filter_failure`").
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import threading
import time
from typing import Any

import requests.auth
import schemathesis

WEBHOOK_PATH = "/v1/payments/webhook"
ORDERS_PATH = "/v1/orders"
# ST202: schemathesis's "schema-valid request rejected" (the positive_data_acceptance check).
REJECTED_POSITIVE_DATA = "ST202"
DUPLICATE_LINE_MESSAGE = "names a product already ordered in another line"
LINE_PRODUCT_FIELD = re.compile(r"^items\[([0-9]+)\]\.product_id$")


class SignWebhook(requests.auth.AuthBase):
    """Replaces the generated `Webhook-Signature` with a valid one over the body as sent.

    A request without the header (schemathesis left it out on purpose: a missing required header,
    or the ignored_auth check) stays without it, so the server's 401 is still what is tested.
    """

    def __init__(self, secret: bytes) -> None:
        self.secret = secret

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        if "Webhook-Signature" not in request.headers:
            return request
        body = request.body or b""
        if isinstance(body, str):
            body = body.encode("utf-8")
        stamp = str(int(time.time()))
        mac = hmac.new(self.secret, stamp.encode("ascii") + b"." + body, hashlib.sha256).hexdigest()
        request.headers["Webhook-Signature"] = f"t={stamp},v1={mac}"
        return request


# Both credentials are set here rather than in schemathesis.toml: any `[auth]` there makes
# schemathesis drop every auth registered by hooks, the webhook's signer included.
schemathesis.auth.set_from_requests(
    SignWebhook(os.environ["ORDERLY_SCHEMATHESIS_WEBHOOK_SECRET"].encode("utf-8"))
).apply_to(path=WEBHOOK_PATH)


@schemathesis.auth(refresh_interval=None).skip_for(path=WEBHOOK_PATH)
class BearerToken:
    """The pass's token (admin or buyer) on every other operation, as `Authorization: Bearer`.

    schemathesis leaves it out where it negates the security requirement (a missing or invalid
    token), and its ignored_auth check sends its probes without it.
    """

    def get(self, case: Any, context: Any) -> str:
        return os.environ["ORDERLY_SCHEMATHESIS_TOKEN"]

    def set(self, case: Any, data: str, context: Any) -> None:
        case.headers = {**(case.headers or {}), "Authorization": f"Bearer {data}"}


# Cursors the server issued, per list path: only those are valid `cursor` values.
_issued_cursors: set[tuple[str, str]] = set()
_issued_lock = threading.Lock()


@schemathesis.hook
def after_call(context: Any, case: Any, response: Any) -> None:
    if response.status_code != 200 or case.operation.method.upper() != "GET":
        return
    try:
        body = response.json()
    except Exception:  # not JSON: response_schema_conformance reports it
        return
    cursor = body.get("next_cursor") if isinstance(body, dict) else None
    if isinstance(cursor, str):
        with _issued_lock:
            _issued_cursors.add((case.operation.path, cursor))


def _problem_errors(response: Any) -> list[dict[str, Any]] | None:
    """The `errors` of a 400 validation problem, or None when the answer is something else."""
    if response.status_code != 400:
        return None
    try:
        problem = response.json()
    except Exception:
        return None
    if not isinstance(problem, dict) or problem.get("type") != "/problems/validation":
        return None
    errors = problem.get("errors")
    if not isinstance(errors, list) or not errors or not all(isinstance(e, dict) for e in errors):
        return None
    return errors


def _headers_refused_by_their_schema(case: Any) -> set[str]:
    """The headers the case sends that their own parameter's schema refuses (lower-cased names).

    schemathesis 4.32.5's coverage phase cannot generate a header value its pattern requires a
    character other than a letter or digit for (If-Match's `"`), and then seeds the "required
    and optional headers" case with the first negative value instead (`If-Match: 0`), labelled
    positive. Such a case is not schema-valid, so a 400 naming that header is the right answer.
    """
    headers = case.headers or {}
    validator_cls = case.operation.schema.adapter.jsonschema_validator_cls
    refused = set()
    for parameter in case.operation.headers:
        value = headers.get(parameter.name)
        if value is None:
            continue
        text = value if isinstance(value, str) else json.dumps(value)
        if not parameter.admits(text, validator_cls):
            refused.add(parameter.name.lower())
    return refused


def _refused_only_for(errors: list[dict[str, Any]], headers: set[str]) -> bool:
    """Whether every error of the 400 names one of `headers`, and nothing else was refused."""
    return bool(headers) and all(
        isinstance(error.get("field"), str) and error["field"].lower() in headers for error in errors
    )


def _unissued_cursor(case: Any, errors: list[dict[str, Any]]) -> bool:
    """A 400 naming only `cursor`, for a cursor this server never issued for this list.

    Contract: "A malformed or tampered cursor, or one issued for another list or another user,
    gets 400". openapi.yaml can only say "a string" (the cursor is opaque and signed), so every
    generated cursor is schema-valid and, unless it came from a response, rightly refused.
    """
    if any(error.get("field") != "cursor" for error in errors):
        return False
    cursor = (case.query or {}).get("cursor")
    if not isinstance(cursor, str):
        return False
    with _issued_lock:
        return (case.operation.path, cursor) not in _issued_cursors


def _order_lines_refused_as_the_contract_says(case: Any, errors: list[dict[str, Any]]) -> bool:
    """A 400 on placing an order, each of whose errors says a line names a product an earlier
    line names, which is true of the body. Contract: `{"items": [{"product_id", "quantity":
    1-100}]}` "with 1-25 lines and no product twice". JSON Schema's `uniqueItems` (in openapi.yaml)
    refuses identical lines, but no keyword refuses two lines that share a `product_id` and differ
    in `quantity`.
    """
    if case.operation.path != ORDERS_PATH or case.operation.method.upper() != "POST":
        return False
    body = case.body if isinstance(case.body, dict) else {}
    lines = body.get("items")
    if not isinstance(lines, list):
        return False
    ids = [line.get("product_id") if isinstance(line, dict) else None for line in lines]
    for error in errors:
        field = error.get("field")
        match = LINE_PRODUCT_FIELD.match(field) if isinstance(field, str) else None
        if match is None:
            return False
        index = int(match.group(1))
        if index >= len(ids):
            return False
        value = ids[index]
        message = error.get("message")
        if message == DUPLICATE_LINE_MESSAGE and value is not None and value in ids[:index]:
            continue
        return False
    return True


@schemathesis.hook
def filter_failure(context: Any, failure: Any, case: Any, response: Any) -> bool:
    """False drops the failure: a rejection the contract asks for (see the helpers above)."""
    if getattr(failure, "code", None) != REJECTED_POSITIVE_DATA:
        return True
    errors = _problem_errors(response)
    if errors is None:
        return True
    return not (
        _refused_only_for(errors, _headers_refused_by_their_schema(case))
        or _unissued_cursor(case, errors)
        or _order_lines_refused_as_the_contract_says(case, errors)
    )
