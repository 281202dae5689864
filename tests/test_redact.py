"""Redaction by rule: command lines and evidence text lose their secrets, keep their shape."""

from __future__ import annotations

from hardened.redact import MASK, redact_command, redact_document, redact_text
from tests.secrets_table import SECRETS, command_line


def test_every_secret_of_the_table_is_redacted_from_a_command_line() -> None:
    """None of the table's secrets survives; the program, flags and names stay readable."""
    redacted, count = redact_command(command_line())
    for _, secret in SECRETS:
        assert secret not in redacted
    assert count >= len(SECRETS)
    assert "python -m payments" in redacted
    assert "STRIPE_SECRET_KEY=***" in redacted
    assert "--password ***" in redacted
    assert "DATABASE_URL=*** " in redacted
    assert "https://***@git.example.com/repo.git" in redacted


def test_each_secret_alone_is_redacted() -> None:
    """Each shape of the table, on its own, in a command line and in free text."""
    for shape, secret in SECRETS:
        line = "app " + shape.format(secret)
        assert secret not in redact_command(line)[0], shape
        assert secret not in redact_text(line)[0], shape


def test_tini_and_shell_command_lines_as_pid1_shows_them() -> None:
    """The shapes seen as PID 1: `tini -- app --token=...` and `sh -c 'VAR=... python ...'`."""
    assert redact_command("tini -- app --token=abc123 --port 8000") == (
        "tini -- app --token=*** --port 8000",
        1,
    )
    line = "sh -c STRIPE_SECRET_KEY=sk_live_x python -m api"
    assert redact_command(line) == ("sh -c STRIPE_SECRET_KEY=*** python -m api", 1)


def test_plain_values_are_kept() -> None:
    """Ports, hosts, paths and flags without a secret word are not touched."""
    line = "uvicorn app:app --host 0.0.0.0 --port 8000 --workers 2 --no-access-log"
    assert redact_command(line) == (line, 0)
    assert redact_text('selector job="api", url http://db:5432/x') == (
        'selector job="api", url http://db:5432/x',
        0,
    )


def test_free_text_redacts_secret_names_but_keeps_other_assignments() -> None:
    """In messages only secret-named assignments go; in command lines every one does."""
    assert redact_text("mode=fast api_key=abc")[0] == "mode=fast api_key=***"
    assert redact_command("MODE=fast app")[0] == f"MODE={MASK} app"


def test_redaction_is_idempotent() -> None:
    """Redacting twice changes nothing more and counts nothing more."""
    once, _ = redact_command(command_line())
    assert redact_command(once) == (once, 0)


def test_documents_are_redacted_in_every_string() -> None:
    """Nested dicts and lists: every string passes; numbers and None stay; the count adds up."""
    document = {
        "url": "postgres://u:pw@h/d",
        "nested": [{"error": "connect failed: password=pw"}, 3, None],
        "ok": "fine",
    }
    redacted, count = redact_document(document)
    assert redacted == {
        "url": "postgres://***@h/d",
        "nested": [{"error": "connect failed: password=***"}, 3, None],
        "ok": "fine",
    }
    assert count == 2
