"""The public API: every name in `__all__` exists once (ruff RUF022 keeps it sorted)."""

from __future__ import annotations

import hardened
import hardened.gates
import hardened.testing


def test_all_names_real_attributes_once() -> None:
    """Each package's `__all__` names real attributes, each once."""
    for module in (hardened, hardened.gates, hardened.testing):
        assert len(set(module.__all__)) == len(module.__all__), module.__name__
        for name in module.__all__:
            assert hasattr(module, name), f"{module.__name__}.{name}"


def test_importing_has_no_side_effects_on_the_default_registry() -> None:
    """A Service takes its own metrics registry; the global default one stays untouched."""
    from prometheus_client import REGISTRY

    before = set(REGISTRY._names_to_collectors)
    hardened.Service("svc")
    assert set(REGISTRY._names_to_collectors) == before
