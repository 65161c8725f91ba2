"""``python -m dabench``: the same as the ``dabench`` command."""
import sys

from dabench.cli import main

sys.exit(main())
