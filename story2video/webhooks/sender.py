"""Sends the queued callbacks: POST of the operation resource, signed, to the checked and pinned address;
redirects are not followed; a failure is retried with a doubling wait until the delivery's deadline.

It runs in the processes that serve HTTP (SERVICE_ROLE all or api); workers only queue deliveries.
Several API replicas share the queue: each delivery is claimed before it is sent.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Callable

import httpx
from loguru import logger

from story2video.errors import Story2VideoError, describe_exception
from story2video.jobs.keys import OperationKey
from story2video.presenters import operation_view
from story2video.storage.records import OperationRecord
from story2video.storage.webhooks import DELIVERED, FAILED, PENDING, WebhookAttempt, WebhookDelivery
from story2video.uploads.fetch import Resolver, checked_target, pinned_request, system_resolver
from story2video.webhooks.service import WebhookService
from story2video.webhooks.signing import ATTEMPT_HEADER, DELIVERY_HEADER, EVENT_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, signature

USER_AGENT = "story2video-webhook"
CLAIM_MARGIN_S = 30.0  # a claim outlives one attempt's timeout by this much
BATCH = 20  # deliveries claimed at once


class Permanent(Exception):
    """An attempt that no retry can fix (the URL is refused, there is no secret): the delivery fails now."""


class WebhookSender:
    def __init__(
        self,
        service: WebhookService,
        present: Callable[[dict], dict],
        *,
        resolver: Resolver | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ):
        self.service = service
        self.settings = service.settings
        self.present = present  # makes the operation's links absolute (and signed), as responses have them
        self._resolver = resolver or system_resolver
        self._transport = transport

    async def run(self) -> None:
        """Send what is due, then look again every WEBHOOK_POLL_INTERVAL_S, until cancelled."""
        while True:
            try:
                await self.send_due()
            except Exception:  # noqa: BLE001 - the loop must outlive one bad round; the failure is logged in full
                logger.exception("the webhook sender failed a round; it tries again in {} s", self.settings.webhook_poll_interval_s)
            await asyncio.sleep(self.settings.webhook_poll_interval_s)

    async def send_due(self) -> int:
        hold = self.settings.webhook_timeout_s + CLAIM_MARGIN_S
        due = await asyncio.to_thread(self.service.repo.claim_due, time.time(), hold, BATCH)
        await asyncio.gather(*(self.deliver(delivery) for delivery in due))
        return len(due)

    async def deliver(self, delivery: WebhookDelivery) -> None:
        number = delivery.attempts + 1
        started = time.time()
        status_code, error, permanent = None, None, False
        try:
            status_code = await self._attempt(delivery, number)
            if not 200 <= status_code < 300:
                error = f"the receiver answered HTTP {status_code}" + (" (redirects are not followed)" if 300 <= status_code < 400 else "")
        except Permanent as refused:
            error, permanent = str(refused), True
        except (httpx.TimeoutException, TimeoutError) as exc:
            error = f"no answer within {self.settings.webhook_timeout_s:g} s (WEBHOOK_TIMEOUT_S): {type(exc).__name__}"
        except (httpx.HTTPError, httpx.InvalidURL, OSError) as exc:
            error = f"could not reach the receiver: {describe_exception(exc, with_type=True)}"
        except Story2VideoError as exc:  # resolving the host failed: it may resolve later
            error = exc.message
        except asyncio.CancelledError:
            # Stopped mid-attempt: nothing is recorded and the claim is released, so the next sender (this
            # service restarted, or another replica) sends it again at once. The receiver may have got it:
            # deliveries are at least once (X-Story2Video-Delivery tells a repeat).
            self.service.repo.release(delivery.delivery_id)
            raise
        attempt = WebhookAttempt(number, started, round(time.time() - started, 4), status_code, error)
        status, next_at = self._outcome(delivery, attempt, permanent)
        await asyncio.to_thread(self.service.repo.record_attempt, delivery, attempt, status, next_at)
        where = f"operation {delivery.user_id}/{delivery.operation_id}"
        if status == DELIVERED:
            logger.info("callback of {} delivered (attempt {})", where, number)
        elif status == FAILED:
            logger.error("callback of {} failed for good after {} attempts: {}", where, number, error)
        else:
            logger.warning("callback of {} attempt {} failed ({}); next in {:.1f} s", where, number, error, next_at - time.time())

    def _outcome(self, delivery: WebhookDelivery, attempt: WebhookAttempt, permanent: bool) -> tuple[str, float | None]:
        if attempt.error is None:
            return DELIVERED, None
        if permanent:
            return FAILED, None
        wait = min(self.settings.webhook_retry_base_s * 2 ** (attempt.attempt - 1), self.settings.webhook_retry_max_s)
        next_at = time.time() + wait
        if next_at > delivery.deadline_at:
            return FAILED, None
        return PENDING, next_at

    async def _attempt(self, delivery: WebhookDelivery, number: int) -> int:
        secret = await asyncio.to_thread(self.service.secret_for, delivery)
        if secret is None:
            raise Permanent("no secret to sign with: the user's webhook was removed or changed, or WEBHOOK_SECRET is unset")
        body = (delivery.body or await self._fix_body(delivery)).encode("utf-8")
        try:
            parts, host, address = await checked_target(self.service.policy, self._resolver, delivery.url)
        except Story2VideoError as refused:
            if refused.code == "url_not_allowed":
                raise Permanent(refused.message) from refused
            raise
        timestamp = int(time.time())
        headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            TIMESTAMP_HEADER: str(timestamp),
            SIGNATURE_HEADER: signature(secret, timestamp, body),
            EVENT_HEADER: delivery.event,
            DELIVERY_HEADER: str(delivery.delivery_id),
            ATTEMPT_HEADER: str(number),
        }
        request = pinned_request(parts, host, address, method="POST", content=body, headers=headers)
        # No keep-alive and no proxy from the environment, as URL imports (uploads/fetch.py).
        transport = self._transport or httpx.AsyncHTTPTransport(limits=httpx.Limits(max_keepalive_connections=0))
        timeout = httpx.Timeout(self.settings.webhook_timeout_s)
        async with httpx.AsyncClient(transport=transport, trust_env=False, follow_redirects=False, timeout=timeout) as client:
            response = await asyncio.wait_for(client.send(request), self.settings.webhook_timeout_s)
            await response.aclose()
            return response.status_code

    async def _fix_body(self, delivery: WebhookDelivery) -> str:
        """The operation resource as GET /operations/{id} shows it, fixed at the first attempt."""
        record: OperationRecord | None = await asyncio.to_thread(self.service.operations.get, delivery.user_id, delivery.operation_id)
        if record is None:
            raise Permanent(f"operation {OperationKey(delivery.user_id, delivery.operation_id)} no longer exists")
        body = json.dumps(self.present(operation_view(record)), ensure_ascii=False)
        await asyncio.to_thread(self.service.repo.fix_body, delivery.delivery_id, body)
        return body
