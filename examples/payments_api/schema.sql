CREATE TABLE IF NOT EXISTS payments (
    id          uuid        PRIMARY KEY,
    tenant      text        NOT NULL,
    amount      bigint      NOT NULL CHECK (amount > 0),
    currency    char(3)     NOT NULL,
    status      text        NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS payments_tenant_created ON payments (tenant, created_at DESC);
