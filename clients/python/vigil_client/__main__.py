"""``python -m vigil_client run -- CMD``, the same as the ``vigil`` console script."""

import sys

from vigil_client.cli import main

sys.exit(main())
