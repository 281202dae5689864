"""The public surface of the edge packages: `__all__` is real, and importing stays light."""

from __future__ import annotations

import subprocess
import sys

import hardened.deadline
import hardened.lifecycle


def test_edge_packages_export_real_names_once() -> None:
    """Every name in `__all__` of hardened.deadline and hardened.lifecycle exists, once."""
    for module in (hardened.deadline, hardened.lifecycle):
        assert len(set(module.__all__)) == len(module.__all__), module.__name__
        for name in module.__all__:
            assert getattr(module, name) is not None, f"{module.__name__}.{name}"


def test_importing_hardened_does_not_load_uvicorn() -> None:
    """`import hardened` (Service with both edge gates) leaves the server to `hardened run`."""
    code = "import sys, hardened; hardened.Service('x'); print('uvicorn' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.stdout.strip() == "False", result.stderr
