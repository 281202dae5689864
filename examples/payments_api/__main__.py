"""`python -m examples.payments_api` (what `make run` runs): the demo on embedded PostgreSQL."""

from __future__ import annotations

import os
import sys

from hardened.server._runner import RunConfig, run
from hardened.testing import EmbeddedPostgres


def main() -> int:
    """Start PostgreSQL unless `DATABASE_URL` is set, then serve the payments API."""
    embedded = None
    if not os.environ.get("DATABASE_URL"):
        data_dir = os.environ.get("PAYMENTS_PGDATA", ".pgdata/payments")
        embedded = EmbeddedPostgres(data_dir, delete_on_stop=False)
        os.environ["DATABASE_URL"] = embedded.url
        print(f"embedded PostgreSQL at {embedded.url}", flush=True)
    from examples.payments_api.app import service

    port = int(os.environ.get("PORT", "8000"))
    admin_port = int(os.environ.get("HARDENED_ADMIN_PORT", "9000"))
    print(
        f"payments API on http://127.0.0.1:{port} (try /readyz); "
        f"gate report on http://127.0.0.1:{admin_port}/gates",
        flush=True,
    )
    for gate in service.report()["gates"]:
        print(f"  gate {gate['name']:<12} {gate['status']}", flush=True)
    try:
        return run(service, RunConfig(port=port, admin_port=admin_port))
    finally:
        if embedded is not None:
            embedded.stop()


if __name__ == "__main__":
    sys.exit(main())
