"""Real-looking secrets in the shapes they take on command lines (shared by tests)."""

from __future__ import annotations

__all__ = ["SECRETS", "command_line"]

# (how it is passed, the secret value)
SECRETS: list[tuple[str, str]] = [
    ("STRIPE_SECRET_KEY={}", "sk_live_51Hx9QeL2m8ZbT4kYvQf0c3R7aN1uWqE"),
    ("AWS_SECRET_ACCESS_KEY={}", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"),
    ("PGPASSWORD={}", "Tr0ub4dor-and-3"),
    ("SLACK_BOT_TOKEN={}", "xoxb-2049357191-1109837264-Q7uZ8sKpLd2Vx9"),
    ("SENTRY_DSN=https://{}@o4505.ingest.sentry.io/42", "f3a9c0de41b2:9d8e7f6a5b4c"),
    ("DATABASE_URL=postgres://payments:{}@db.internal:5432/payments", "pg-Secr3t-Pw"),
    ("--token={}", "ghp_16C7e42F292c6912E7710c838347Ae178B4a"),
    ("--api-key={}", "AIzaSyD-9tSrke72PouQMnMX-a7eZSW0jkFMBWY"),
    ("--password {}", "hunter2-Correct-Horse"),
    ("--client-secret {}", "cs_8f14e45fceea167a5a36dedd4bea2543"),
    ("--session-token={}", "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjMifQ.c2lnbmF0dXJl"),
    ("--private-key-pass {}", "Pa55phrase-for-key"),
    ("https://deploy:{}@git.example.com/repo.git", "glpat-xyzzy-8Kq2"),
]


def command_line(program: str = "python -m payments") -> str:
    """A command line passing every secret of the table."""
    environment = [shape.format(secret) for shape, secret in SECRETS if shape[0].isupper()]
    arguments = [shape.format(secret) for shape, secret in SECRETS if not shape[0].isupper()]
    return " ".join([*environment, program, *arguments])
