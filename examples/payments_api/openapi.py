"""The OpenAPI 3.1 document the API serves at `/openapi.json`: the contract clients code to,
and what the schema-driven fuzz test generates requests from."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from examples.payments_api.currencies import CURRENCIES
from examples.payments_api.validation import MAX_AMOUNT, MAX_DESCRIPTION, MAX_REASON, SOURCE_PATTERN

__all__ = ["DOCUMENT", "openapi"]

_PROBLEM = {"$ref": "#/components/responses/Problem"}
_KEY = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": True,
    "description": "Retrying with the same key never charges twice.",
    "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[ -~]+$"},
}
_ID = {"name": "payment_id", "in": "path", "required": True, "schema": {"type": "string"}}
_AMOUNT = {"type": "integer", "minimum": 1, "maximum": MAX_AMOUNT, "description": "minor units"}
_ERRORS = {str(status): _PROBLEM for status in (400, 401, 404, 409, 413, 422, 503, 504)}


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"content": {"application/json": {"schema": schema}}}


DOCUMENT: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {"title": "Payments API", "version": "1.0.0"},
    "security": [{"apiKey": []}],
    "paths": {
        "/payments": {
            "post": {
                "operationId": "createPayment",
                "parameters": [_KEY],
                "requestBody": {
                    "required": True,
                    **_json({"$ref": "#/components/schemas/NewPayment"}),
                },
                "responses": {
                    "201": {
                        "description": "created (or replayed)",
                        **_json({"$ref": "#/components/schemas/Payment"}),
                    },
                    **_ERRORS,
                },
            }
        },
        "/payments/{payment_id}": {
            "get": {
                "operationId": "getPayment",
                "parameters": [_ID],
                "responses": {
                    "200": {
                        "description": "the payment",
                        **_json({"$ref": "#/components/schemas/Payment"}),
                    },
                    **_ERRORS,
                },
            }
        },
        "/payments/{payment_id}/refunds": {
            "post": {
                "operationId": "createRefund",
                "parameters": [_ID, _KEY],
                "requestBody": {
                    "required": False,
                    **_json({"$ref": "#/components/schemas/NewRefund"}),
                },
                "responses": {
                    "201": {
                        "description": "refunded (or replayed)",
                        **_json({"$ref": "#/components/schemas/Refund"}),
                    },
                    **_ERRORS,
                },
            }
        },
    },
    "components": {
        "securitySchemes": {"apiKey": {"type": "http", "scheme": "bearer"}},
        "responses": {
            "Problem": {
                "description": "RFC 9457 problem",
                "content": {"application/problem+json": {"schema": {"type": "object"}}},
            }
        },
        "schemas": {
            "NewPayment": {
                "type": "object",
                "additionalProperties": False,
                "required": ["amount", "currency", "source"],
                "properties": {
                    "amount": _AMOUNT,
                    "currency": {"enum": sorted(CURRENCIES), "description": "ISO 4217"},
                    "source": {"type": "string", "pattern": SOURCE_PATTERN},
                    "description": {"type": ["string", "null"], "maxLength": MAX_DESCRIPTION},
                },
            },
            "NewRefund": {
                "type": "object",
                "additionalProperties": False,
                "properties": {
                    "amount": _AMOUNT,
                    "reason": {"type": ["string", "null"], "maxLength": MAX_REASON},
                },
            },
            "Payment": {
                "type": "object",
                "required": ["id", "status", "amount", "currency"],
                "properties": {
                    "id": {"type": "string", "format": "uuid"},
                    "status": {"enum": ["pending", "succeeded"]},
                    "amount": _AMOUNT,
                    "currency": {"type": "string"},
                    "refunded": {"type": "integer"},
                    "description": {"type": ["string", "null"]},
                    "created_at": {"type": "string", "format": "date-time"},
                },
            },
            "Refund": {
                "type": "object",
                "required": ["id", "payment_id", "status", "amount"],
                "properties": {
                    "id": {"type": "string", "format": "uuid"},
                    "payment_id": {"type": "string", "format": "uuid"},
                    "status": {"enum": ["pending", "succeeded"]},
                    "amount": _AMOUNT,
                    "reason": {"type": ["string", "null"]},
                    "created_at": {"type": "string", "format": "date-time"},
                },
            },
        },
    },
}


async def openapi(request: Request) -> Response:
    """`GET /openapi.json`: the document above."""
    return JSONResponse(DOCUMENT)
