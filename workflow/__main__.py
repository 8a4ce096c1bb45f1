"""``python -m workflow <stage>``: see ``workflow.cli``."""

import sys

from .cli import main

sys.exit(main())
