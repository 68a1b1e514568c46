"""``python -m authority`` is the ``authority`` command."""

import sys

from authority.cli.main import main

sys.exit(main())
