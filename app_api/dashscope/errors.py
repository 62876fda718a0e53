"""DashScope's error answers ({"code", "message", "request_id"}, or the OpenAI-compatible
{"error": {...}}) turned into errors that say what to fix. The API key never appears in them."""

from __future__ import annotations

import json
from dataclasses import dataclass

import httpx

from story2video.errors import BackendError, BackendUnavailable

BACKEND = "dashscope"
MODERATION_CODES = frozenset({"DataInspectionFailed", "data_inspection_failed", "DataInspection.Failed"})
ARREARS_CODES = frozenset({"Arrearage"})  # the account owes money
QUOTA_CODES = frozenset({"Throttling.AllocationQuota", "insufficient_quota", "AllocationQuota.FreeTierOnly"})  # a 429 that waiting cannot fix


def cannot_be_retried(response: httpx.Response) -> bool:
    """A 429 that is a used-up quota, not throttling: a retry would be refused the same way."""
    return response.status_code == 429 and parse_error_body(response).code in QUOTA_CODES


@dataclass(frozen=True)
class Endpoint:
    """One DashScope capability, named the way its errors should name it."""

    name: str  # e.g. "image synthesis"
    model: str
    model_setting: str  # e.g. "DASHSCOPE_IMAGE_MODEL"
    concurrency_setting: str  # e.g. "DASHSCOPE_IMAGE_CONCURRENCY"


class ContentRejected(BackendError):
    """DashScope's content moderation refused the input (it may pass once softened)."""


class ResultExpired(BackendError):
    """A task's result URL no longer serves the file (results are kept 24 h): submit again."""


class TaskUnknown(BackendError):
    """DashScope does not know the task id (tasks are kept 24 h): its task_status is UNKNOWN, or the
    task lookup answers 400/404. A task resumed from the job ledger is then submitted anew."""


@dataclass(frozen=True)
class ErrorBody:
    code: str
    message: str
    request_id: str

    def describe(self) -> str:
        text = f"{self.code}: {self.message}" if self.code else self.message or "no details"
        return f"{text}; request_id {self.request_id}" if self.request_id else text


def parse_error_body(response: httpx.Response) -> ErrorBody:
    try:
        data = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return ErrorBody("", response.text[:300].strip(), "")
    if not isinstance(data, dict):
        return ErrorBody("", str(data)[:300], "")
    inner = data.get("error") if isinstance(data.get("error"), dict) else data
    return ErrorBody(str(inner.get("code") or ""), str(inner.get("message") or ""), str(data.get("request_id") or ""))


def is_moderation(code: str, message: str = "") -> bool:
    return code in MODERATION_CODES or "DataInspection" in message or "inappropriate content" in message


def error_for(response: httpx.Response, endpoint: Endpoint, attempts: int) -> BackendError:
    """The error for a final non-2xx answer from DashScope."""
    body = parse_error_body(response)
    status = response.status_code
    detail = f"{status} {body.describe()}"
    if status == 400 and is_moderation(body.code, body.message):
        return ContentRejected(f"DashScope content moderation rejected the {endpoint.name} input ({detail})", backend=BACKEND)
    if body.code in ARREARS_CODES or (status == 403 and "arrear" in body.message.lower()):
        return BackendUnavailable(
            f"the DashScope account is in arrears ({detail}): pay the outstanding bill in the Alibaba Cloud console; "
            "nothing runs until then",
            backend=BACKEND,
        )
    if status == 429 and body.code in QUOTA_CODES:
        return BackendUnavailable(
            f"the DashScope quota for {endpoint.model_setting}={endpoint.model} is used up ({detail}): the free quota "
            "ended or the plan's allocation is spent; turn off 'free quota only' or add paid capacity in the Model "
            "Studio console (not retried: waiting does not help)",
            backend=BACKEND,
        )
    if status == 401:
        return BackendUnavailable(
            f"DASHSCOPE_API_KEY was rejected ({detail}): set a valid key; a key works only on its own region's host "
            "(DASHSCOPE_BASE_URL: https://dashscope.aliyuncs.com for mainland China, https://dashscope-intl.aliyuncs.com "
            "for international)",
            backend=BACKEND,
        )
    if status == 403:
        return BackendUnavailable(
            f"DashScope denied access to {endpoint.model_setting}={endpoint.model} ({detail}): enable the model for this "
            "API key's workspace in the Model Studio console, or choose another model; an account with unpaid bills "
            "is denied too (check Billing in the Alibaba Cloud console)",
            backend=BACKEND,
        )
    if status == 404:
        return BackendError(
            f"DashScope has no {endpoint.name} endpoint or model here ({detail}): check {endpoint.model_setting}="
            f"{endpoint.model} and DASHSCOPE_BASE_URL",
            backend=BACKEND,
        )
    if status == 429:
        return BackendUnavailable(
            f"DashScope kept throttling {endpoint.name} ({detail}) through {attempts} tries: lower "
            f"{endpoint.concurrency_setting}, raise API_RETRY_ATTEMPTS, or check the account's rate limits",
            backend=BACKEND,
        )
    if status >= 500:
        return BackendUnavailable(
            f"DashScope {endpoint.name} failed on the server side ({detail}) in all {attempts} tries; try again later",
            backend=BACKEND,
        )
    return BackendError(
        f"DashScope refused the {endpoint.name} request ({detail}): check {endpoint.model_setting}={endpoint.model} "
        "and the DASHSCOPE_* parameters",
        backend=BACKEND,
    )
