"""The key table's schema, its migrations, and every statement the PostgreSQL store runs.

Times are the database's own (`now()`), so an application server's clock never moves expiry.
No lock is held while a handler runs: the claim is one autocommit statement, and every later
write is fenced by the claim's lease token.
"""

# ruff: noqa: S608 - the table name is checked against an identifier pattern; values are bound

from __future__ import annotations

import math
import os
import re
import uuid

__all__ = ["LEASE_LOST", "MIGRATIONS", "Statements", "new_token"]

# The SQLSTATE the completion function raises when the lease token no longer holds the key
# (a class of its own: no PostgreSQL error uses "HD").
LEASE_LOST = "HD001"

# Each entry moves the schema one version up; `{t}` is the table's name.
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE IF NOT EXISTS {t} (
      id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      scope text NOT NULL,
      idem_key text NOT NULL CHECK (octet_length(idem_key) BETWEEN 1 AND 255),
      fingerprint bytea NOT NULL,
      method text NOT NULL,
      route text NOT NULL,
      state text NOT NULL DEFAULT 'in_progress' CHECK (state IN ('in_progress', 'completed')),
      recovery_point text NOT NULL DEFAULT 'started',
      lease_token uuid,
      lease_expires_at timestamptz,
      attempts int NOT NULL DEFAULT 1,
      response_status smallint,
      response_headers jsonb,
      response_body bytea,
      created_at timestamptz NOT NULL DEFAULT now(),
      completed_at timestamptz,
      expires_at timestamptz NOT NULL,
      UNIQUE (scope, idem_key)
    );
    CREATE INDEX IF NOT EXISTS {t}_expires ON {t} (expires_at);
    CREATE INDEX IF NOT EXISTS {t}_in_progress ON {t} (lease_expires_at)
      WHERE state = 'in_progress';
    """,
    # The fenced completion as a function that raises when the lease was lost: it can then
    # travel in one simple-protocol message with the handler's COMMIT, and a lost lease aborts
    # the whole transaction instead of reporting "UPDATE 0" after it committed.
    """
    CREATE OR REPLACE FUNCTION {t}_complete(
      p_id bigint, p_token uuid, p_status int, p_headers text, p_body bytea, p_retention float8
    ) RETURNS void LANGUAGE plpgsql AS $fn$
    BEGIN
      UPDATE {t} SET state = 'completed', response_status = p_status,
        response_headers = p_headers::jsonb, response_body = p_body, lease_token = NULL,
        lease_expires_at = NULL, completed_at = now(),
        expires_at = now() + p_retention * interval '1 second'
      WHERE id = p_id AND lease_token = p_token;
      IF NOT FOUND THEN
        RAISE EXCEPTION 'the idempotency lease passed to a retry' USING ERRCODE = '"""
    + LEASE_LOST
    + """';
      END IF;
    END
    $fn$;
    """,
)

SCHEMA_TABLE = """
CREATE TABLE IF NOT EXISTS hardened_schema_versions (
  component text PRIMARY KEY, version int NOT NULL
)
"""
LOCK = "SELECT pg_advisory_xact_lock(hashtext('hardened_schema_versions'))"
VERSION = "SELECT version FROM hardened_schema_versions WHERE component = $1"
SET_VERSION = """
INSERT INTO hardened_schema_versions (component, version) VALUES ($1, $2)
ON CONFLICT (component) DO UPDATE SET version = EXCLUDED.version
"""

_SECONDS = "* interval '1 second'"


_TOKEN = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def new_token() -> str:
    """A lease token: 128 random bits in the text form of a UUID (bound as `uuid`)."""
    h = os.urandom(16).hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _uuid_literal(token: object) -> str:
    """`token` written as a UUID: a token of `new_token()` is used as it is, anything else is
    parsed, so only a UUID can reach the literal."""
    if isinstance(token, str) and _TOKEN.fullmatch(token):
        return token
    return str(uuid.UUID(str(token)))


class Statements:
    """The statements for one table name."""

    def __init__(self, table: str) -> None:
        t = table
        self.table = t
        self.migrations = tuple(m.format(t=t) for m in MIGRATIONS)
        # One round trip in the usual case: the claim, or the row that refused it. A row
        # committed after this statement's snapshot is read by `row` instead. $9 is the
        # claim's synchronous_commit (see PostgresIdempotencyStore).
        self.claim = f"""
WITH claimed AS (
  INSERT INTO {t} AS k (scope, idem_key, fingerprint, method, route, lease_token,
                        lease_expires_at, expires_at)
  VALUES ($1, $2, $3, $4, $5, $6, now() + $7::float8 {_SECONDS}, now() + $8::float8 {_SECONDS})
  ON CONFLICT (scope, idem_key) DO UPDATE SET
    lease_token = EXCLUDED.lease_token,
    lease_expires_at = EXCLUDED.lease_expires_at,
    attempts = CASE WHEN k.expires_at <= now() THEN 1 ELSE k.attempts + 1 END,
    recovery_point = CASE WHEN k.expires_at <= now() THEN 'started' ELSE k.recovery_point END,
    created_at = CASE WHEN k.expires_at <= now() THEN now() ELSE k.created_at END,
    fingerprint = EXCLUDED.fingerprint, method = EXCLUDED.method, route = EXCLUDED.route,
    state = 'in_progress', response_status = NULL, response_headers = NULL,
    response_body = NULL, completed_at = NULL, expires_at = EXCLUDED.expires_at
  WHERE k.expires_at <= now()
     OR (k.fingerprint = EXCLUDED.fingerprint AND k.state = 'in_progress'
         AND (k.lease_expires_at IS NULL OR k.lease_expires_at < now()))
  RETURNING k.id, k.recovery_point, k.attempts
)
SELECT true AS won, id, recovery_point, attempts, NULL::bytea AS fingerprint,
       NULL::text AS state, NULL::smallint AS response_status, NULL::text AS response_headers,
       NULL::bytea AS response_body, NULL::float8 AS lease_left
FROM claimed CROSS JOIN (SELECT set_config('synchronous_commit', $9, true)) AS commit_mode
UNION ALL
SELECT false, id, recovery_point, attempts, fingerprint, state, response_status,
       response_headers::text, response_body,
       extract(epoch FROM lease_expires_at - now())::float8
FROM {t} WHERE scope = $1 AND idem_key = $2 AND expires_at > now()
  AND NOT EXISTS (SELECT 1 FROM claimed)
"""
        self.row = f"""
SELECT false AS won, id, recovery_point, attempts, fingerprint, state, response_status,
       response_headers::text AS response_headers, response_body,
       extract(epoch FROM lease_expires_at - now())::float8 AS lease_left
FROM {t} WHERE scope = $1 AND idem_key = $2 AND expires_at > now()
"""
        self.heartbeat = f"""
UPDATE {t} SET lease_expires_at = now() + $3::float8 {_SECONDS}
WHERE id = $1 AND lease_token = $2
"""
        self.complete = f"""
UPDATE {t} SET state = 'completed', response_status = $3, response_headers = $4::jsonb,
  response_body = $5, lease_token = NULL, lease_expires_at = NULL, completed_at = now(),
  expires_at = now() + $6::float8 {_SECONDS}
WHERE id = $1 AND lease_token = $2
"""
        self.release = f"""
WITH gone AS (
  DELETE FROM {t} WHERE id = $1 AND lease_token = $2 AND recovery_point = 'started'
  RETURNING 1
)
UPDATE {t} SET lease_token = NULL, lease_expires_at = now() - interval '1 second'
WHERE id = $1 AND lease_token = $2 AND NOT EXISTS (SELECT 1 FROM gone)
"""
        self._complete_function = f"{t}_complete"
        self.reach = f"UPDATE {t} SET recovery_point = $3 WHERE id = $1 AND lease_token = $2"
        self.reap = f"""
DELETE FROM {t} WHERE id IN (
  SELECT id FROM {t} WHERE expires_at <= now()
    AND (lease_expires_at IS NULL OR lease_expires_at < now())
  ORDER BY expires_at LIMIT $1
)
"""
        self.census = f"""
SELECT count(*) AS in_progress_keys,
  count(*) FILTER (WHERE created_at < now() - $1::float8 {_SECONDS})
    AS in_progress_older_than_lease,
  count(*) FILTER (WHERE created_at < now() - 10 * $1::float8 {_SECONDS})
    AS in_progress_older_than_10_leases,
  count(*) FILTER (WHERE lease_expires_at < now()) AS in_progress_unleased
FROM {t} WHERE state = 'in_progress'
"""

    def complete_and_commit(
        self, *, id: int, token: object, status: int, headers: str, body: bytes, retention: float
    ) -> str:
        """The fenced completion and the COMMIT of the open transaction as one simple-protocol
        message (one round trip; a simple query takes no bound parameters). Every value is
        written as a number, a UUID or hexadecimal digits, so no input can end a literal:
        text and bytes travel hex-encoded and are decoded by the server."""
        if not math.isfinite(retention):
            raise ValueError(f"retention must be finite, not {retention}")
        return (
            f"SELECT {self._complete_function}({int(id)}, '{_uuid_literal(token)}', "
            f"{int(status)}, convert_from(decode('{headers.encode().hex()}', 'hex'), 'UTF8'), "
            f"decode('{body.hex()}', 'hex'), {float(retention)!r}); COMMIT"
        )
