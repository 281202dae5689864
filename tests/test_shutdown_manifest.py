"""The manifest reader: the YAML subset agrees with PyYAML; preStop forms are recognised."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from hardened import ConfigError
from hardened.shutdown import read_manifest
from hardened.shutdown._yaml import YamlError, load_all

DEPLOY = Path(__file__).resolve().parent.parent / "examples/payments_api/deploy/kubernetes"

SNIPPETS = [
    "a: 1\nb: [x, 'y z', \"q\"]\nc: {d: 2, e: no}\n",
    "# comment\nlist:\n- one\n- two: 2\n  three: 3\n-\n  - nested\n",
    "key: value # trailing comment\nurl: http://host:80/path\nempty:\nnull_: ~\n",
    "text: |\n  line one\n  line two\nfolded: >-\n  a\n  b\nafter: 1.5\n",
    "---\nfirst: 1\n---\nsecond: 2\n...\n",
    "quoted: 'it''s'\nescaped: \"tab\\there\"\nnum: -3\nfloat: .5\nflag: True\n",
]


@pytest.mark.parametrize("path", sorted(DEPLOY.glob("*.yaml")), ids=lambda p: p.name)
def test_shipped_manifests_read_the_same_as_pyyaml(path: Path) -> None:
    """Every shipped manifest parses to exactly what PyYAML reads."""
    text = path.read_text()
    assert load_all(text) == [d for d in yaml.safe_load_all(text) if d is not None]


@pytest.mark.parametrize("text", SNIPPETS)
def test_subset_snippets_read_the_same_as_pyyaml(text: str) -> None:
    """Block and flow forms, comments, block scalars, documents: the same values as PyYAML."""
    assert load_all(text) == [d for d in yaml.safe_load_all(text) if d is not None]


@pytest.mark.parametrize("text", ["a: &anchor 1\nb: *anchor\n", "a: [1, [2]]\n", "--- a: 1\n"])
def test_unsupported_yaml_is_refused_not_misread(text: str) -> None:
    """Anchors, aliases and nested flow collections raise instead of returning wrong values."""
    with pytest.raises(YamlError):
        load_all(text)


@pytest.mark.parametrize(
    ("hook", "kind", "seconds"),
    [
        ("sleep:\n            seconds: 7", "sleep", 7.0),
        ('exec:\n            command: ["sleep", "4"]', "exec sleep", 4.0),
        ('exec:\n            command: ["sh", "-c", "sleep 3s"]', "exec sleep", 3.0),
        ('exec:\n            command: ["/app/drain.sh"]', "exec", 0.0),
    ],
)
def test_prestop_forms(tmp_path: Path, hook: str, kind: str, seconds: float) -> None:
    """The sleep action and exec sleeps are counted; other hooks are named, not guessed."""
    path = tmp_path / "pod.yaml"
    path.write_text(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\nspec:\n"
        "  terminationGracePeriodSeconds: 45\n  containers:\n    - name: side\n"
        "    - name: api\n      lifecycle:\n        preStop:\n"
        f"          {hook}\n"
    )
    spec = read_manifest(path, container="api")
    assert (spec.prestop, spec.prestop_sleep, spec.grace_period) == (kind, seconds, 45.0)
    assert spec.workload == "Pod/p"


def test_unknown_container_and_no_workload_are_config_errors(tmp_path: Path) -> None:
    """A manifest that does not say what the gate needs is an error, not a default."""
    with pytest.raises(ConfigError, match="no container named 'nope'"):
        read_manifest(DEPLOY / "deployment.yaml", container="nope")
    service_only = tmp_path / "svc.yaml"
    service_only.write_text("apiVersion: v1\nkind: Service\nmetadata:\n  name: s\n")
    with pytest.raises(ConfigError, match="no Pod or workload"):
        read_manifest(service_only)
