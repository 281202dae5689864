"""`python -m hardened` is the `hardened` command."""

import sys

from hardened.cli import main

sys.exit(main())
