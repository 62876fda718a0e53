"""Who is called back where: request callback URLs and users' registrations, checked as strictly as URL
imports, and the delivery queued (in the database) when an operation ends, by whichever process ends it."""

from __future__ import annotations

import secrets
import time

from loguru import logger

from story2video.config import Settings
from story2video.errors import InvalidRequest, NotFound
from story2video.jobs.keys import OperationKey
from story2video.storage.operations import OperationRepository
from story2video.storage.webhooks import WebhookDelivery, WebhookRegistration, WebhookRepository
from story2video.uploads.fetch import UrlPolicy

TERMINAL_EVENTS = frozenset({"operation.completed", "operation.failed", "operation.cancelled"})
REQUEST_TARGET, USER_TARGET = "request", "user"
SECRET_BYTES = 32


class WebhookService:
    def __init__(self, settings: Settings, repo: WebhookRepository, operations: OperationRepository):
        self.settings = settings
        self.repo = repo
        self.operations = operations
        self.policy = UrlPolicy.for_callbacks(settings.webhook_url_hosts, settings.webhook_allow_private)

    # ------------------------------------------------------------ checks

    def check_url(self, url: str, param: str = "callback_url") -> None:
        """Refuse a callback URL the policy refuses (an IP literal's address is judged now; a host name's
        addresses when each attempt is sent, and the attempt goes to the address that was checked)."""
        if not self.policy.enabled:
            raise InvalidRequest(
                "webhook callbacks are off on this server; set WEBHOOK_URL_HOSTS to the hosts they may call, or poll the operation",
                param=param,
                code="webhooks_off",
            )
        self.policy.check_literal_address(url)

    def check_request_callback(self, url: str | None) -> None:
        if url is None:
            return
        self.check_url(url)
        if not self.settings.webhook_secret:
            raise InvalidRequest(
                "this server has no WEBHOOK_SECRET to sign callbacks with; register a webhook for the user "
                "(PUT /api/v1/users/{user_id}/webhook), or poll the operation",
                param="callback_url",
                code="webhooks_off",
            )

    # ------------------------------------------------------------ registrations

    def register(self, user_id: str, url: str, secret: str | None) -> WebhookRegistration:
        self.check_url(url, param="url")
        return self.repo.register(user_id, url, secret or secrets.token_urlsafe(SECRET_BYTES))

    def registration(self, user_id: str) -> WebhookRegistration:
        found = self.repo.registration(user_id)
        if found is None:
            raise NotFound(f"user '{user_id}' has no webhook")
        return found

    def unregister(self, user_id: str) -> None:
        if not self.repo.unregister(user_id):
            raise NotFound(f"user '{user_id}' has no webhook")

    def secret_for(self, delivery: WebhookDelivery) -> str | None:
        """The secret a delivery is signed with now; None when there is none any more."""
        if delivery.target == REQUEST_TARGET:
            return self.settings.webhook_secret or None
        registration = self.repo.registration(delivery.user_id)
        return registration.secret if registration is not None and registration.url == delivery.url else None

    def deliveries(self, key: OperationKey) -> list[WebhookDelivery]:
        return self.repo.deliveries(key.user_id, key.operation_id)

    # ------------------------------------------------------------ queueing

    def on_event(self, key: OperationKey, event_type: str) -> None:
        """An operation event was stored: queue the callback of an operation that ended."""
        if event_type not in TERMINAL_EVENTS:
            return
        record = self.operations.get(*key)
        if record is None:
            return
        url, target = record.request.get("callback_url"), REQUEST_TARGET
        if not url:
            registration = self.repo.registration(key.user_id)
            if registration is None:
                return
            url, target = registration.url, USER_TARGET
        deadline = time.time() + self.settings.webhook_retry_window_s
        if self.repo.enqueue(key.user_id, key.operation_id, event_type, url, target, deadline):
            logger.info("operation {} ended ({}); its callback is queued", key, event_type)
