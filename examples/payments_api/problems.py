"""The API's own problems: each a `HardenedError`, so the service renders it as problem+json."""

from __future__ import annotations

from hardened.errors import HardenedError, RejectedError

__all__ = [
    "InvalidRequest",
    "MalformedBody",
    "NotFound",
    "NotRefundable",
    "ProcessorFailed",
    "ProcessorUnavailable",
    "RefundTooLarge",
    "Unauthorized",
]

BASE = "https://payments.example/problems/"


class MalformedBody(HardenedError):
    """The body is not a JSON object."""

    status = 400
    problem_type = BASE + "malformed-body"
    title = "The body must be a JSON object"


class InvalidRequest(HardenedError):
    """A field is missing, unknown, of the wrong type or out of range."""

    status = 422
    problem_type = BASE + "invalid-request"
    title = "Invalid request"


class Unauthorized(HardenedError):
    """No API key, or one this service does not know."""

    status = 401
    problem_type = BASE + "unauthorized"
    title = "A valid API key is required (Authorization: Bearer <key>)"


class NotFound(HardenedError):
    """No such payment for this tenant (another tenant's payment is not found either)."""

    status = 404
    problem_type = BASE + "not-found"
    title = "No such payment"


class RefundTooLarge(HardenedError):
    """The refund would take the refunded total past the amount paid."""

    status = 422
    problem_type = BASE + "refund-exceeds-payment"
    title = "The refund exceeds what is left of the payment"


class NotRefundable(HardenedError):
    """The payment has not succeeded (yet): there is nothing to refund."""

    status = 409
    problem_type = BASE + "not-refundable"
    title = "The payment has not succeeded"


class ProcessorUnavailable(RejectedError):
    """The processor failed every attempt the budget allowed; retrying the key is safe."""

    problem_type = BASE + "processor-unavailable"
    title = "The payment processor is unavailable; retry with the same Idempotency-Key"


class ProcessorFailed(HardenedError):
    """The processor refused the request as malformed (a bug here, not the client's)."""

    status = 502
    problem_type = BASE + "processor-failed"
    title = "The payment processor refused the request"
