"""``python -m apps`` is the ``glasswing`` command."""

import sys

from apps.cli import main

sys.exit(main())
