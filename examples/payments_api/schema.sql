-- The payments API's tables. Each client request is recorded under (tenant, idempotency_key)
-- before any side effect: the row is the recovery point a retry resumes from.
CREATE TABLE IF NOT EXISTS payments (
    id               uuid        PRIMARY KEY,
    tenant           text        NOT NULL,
    idempotency_key  text        NOT NULL,
    fingerprint      text        NOT NULL,
    amount           bigint      NOT NULL CHECK (amount > 0),
    refunded         bigint      NOT NULL DEFAULT 0 CHECK (refunded >= 0 AND refunded <= amount),
    currency         char(3)     NOT NULL,
    source           text        NOT NULL,
    description      text,
    status           text        NOT NULL CHECK (status IN ('pending', 'succeeded')),
    charge_id        text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant, idempotency_key)
);
CREATE TABLE IF NOT EXISTS refunds (
    id               uuid        PRIMARY KEY,
    payment_id       uuid        NOT NULL REFERENCES payments (id),
    tenant           text        NOT NULL,
    idempotency_key  text        NOT NULL,
    fingerprint      text        NOT NULL,
    amount           bigint      NOT NULL CHECK (amount > 0),
    reason           text,
    status           text        NOT NULL CHECK (status IN ('pending', 'succeeded')),
    processor_id     text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant, idempotency_key)
);
CREATE INDEX IF NOT EXISTS refunds_payment ON refunds (payment_id);
