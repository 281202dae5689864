"""Drills: make each gate's failure happen against a running service and measure the answer.

`hardened drill MODULE:ATTR` starts the service and runs every drill; `hardened drill --url`
drives a running instance with the safe ones. A service opts into the fault hooks with
`Service(mechanisms=[DrillHooks(DrillConfig(...))])`; docs/drills.md has the document.
"""

from hardened.drill._catalog import CATALOG, select
from hardened.drill._cli import add_arguments, drill_command, use_proof
from hardened.drill._config import TOKEN_ENV, DrillConfig, DrillRequest
from hardened.drill._hooks import DrillHooks
from hardened.drill._model import Drill, DrillResult, Outcome, Skip
from hardened.drill._proof import ProofBook
from hardened.drill._runner import document, run_drills
from hardened.drill._target import Target

__all__ = [
    "CATALOG",
    "TOKEN_ENV",
    "Drill",
    "DrillConfig",
    "DrillHooks",
    "DrillRequest",
    "DrillResult",
    "Outcome",
    "ProofBook",
    "Skip",
    "Target",
    "add_arguments",
    "document",
    "drill_command",
    "run_drills",
    "select",
    "use_proof",
]
