"""Webhooks: a user's registered callback, and the callback deliveries of an operation."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Path, Response

from story2video.api import examples
from story2video.api.auth import PrincipalDep
from story2video.api.deps import EngineDep
from story2video.api.routes.operations import VisibleOperation
from story2video.jobs.keys import OperationKey
from story2video.protocol import ID_PATTERN, CallbackDelivery, ErrorResponse, WebhookRegistrationInfo, WebhookRegistrationRequest
from story2video.storage.webhooks import PENDING, WebhookDelivery, WebhookRegistration

router = APIRouter(prefix="/api/v1", tags=["webhooks"])
RegistrationBody = Annotated[
    WebhookRegistrationRequest,
    Body(
        openapi_examples={
            "generated secret": {"summary": "The service makes the secret", "value": {"url": "https://hooks.example.com/story2video"}},
            "own secret": {
                "summary": "Your own secret",
                "value": {"url": "https://hooks.example.com/story2video", "secret": "a-long-random-secret-of-yours"},
            },
        }
    ),
]
UserId = Path(pattern=ID_PATTERN, openapi_examples=examples.parameter(examples.USER_ID))
_RESPONSES = {400: {"model": ErrorResponse}, 401: {"model": ErrorResponse}, 403: {"model": ErrorResponse}, 404: {"model": ErrorResponse}}


def _registration(registration: WebhookRegistration, with_secret: bool) -> dict:
    return {
        "user_id": registration.user_id,
        "url": registration.url,
        "secret": registration.secret if with_secret else None,
        "created_at": registration.created_at,
        "updated_at": registration.updated_at,
    }


def _delivery(delivery: WebhookDelivery) -> dict:
    return {
        "delivery_id": delivery.delivery_id,
        "event": delivery.event,
        "url": delivery.url,
        "target": delivery.target,
        "status": delivery.status,
        "attempts": [attempt.__dict__ for attempt in delivery.history],
        "next_attempt_at": delivery.next_attempt_at if delivery.status == PENDING else None,
        "deadline_at": delivery.deadline_at,
        "created_at": delivery.created_at,
    }


@router.put("/users/{user_id}/webhook", response_model=WebhookRegistrationInfo, responses=_RESPONSES)
def register_webhook(body: RegistrationBody, engine: EngineDep, principal: PrincipalDep, user_id: str = UserId):
    """Call `url` when any operation of the user ends (unless its request names its own `callback_url`).
    The answer carries the signing secret; later reads do not."""
    principal.require(user_id)
    return _registration(engine.webhooks.register(user_id, body.url, body.secret), with_secret=True)


@router.get("/users/{user_id}/webhook", response_model=WebhookRegistrationInfo, responses=_RESPONSES)
def get_webhook(engine: EngineDep, principal: PrincipalDep, user_id: str = UserId):
    principal.require_visible(user_id, f"the webhook of user '{user_id}'")
    return _registration(engine.webhooks.registration(user_id), with_secret=False)


@router.delete("/users/{user_id}/webhook", status_code=204, responses=_RESPONSES)
def delete_webhook(engine: EngineDep, principal: PrincipalDep, user_id: str = UserId) -> Response:
    """Stop calling the user back. Callbacks still pending for it fail (nothing left to sign them with)."""
    principal.require(user_id)
    engine.webhooks.unregister(user_id)
    return Response(status_code=204)


@router.get("/operations/{operation_id}/callbacks", response_model=list[CallbackDelivery], responses=_RESPONSES)
def operation_callbacks(record: VisibleOperation, engine: EngineDep):
    """The operation's callback (none until it ends, or when it has no callback): status and every attempt."""
    return [_delivery(delivery) for delivery in engine.webhooks.deliveries(OperationKey(record.user_id, record.operation_id))]
