"""``python -m pipeline`` is the same program as the ``stylesnake`` command."""

import sys

from pipeline.cli import main

sys.exit(main())
