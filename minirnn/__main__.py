"""``python -m minirnn``: the same as the ``minirnn`` command."""
import sys

try:
    from .cli import main
except KeyboardInterrupt:            # Ctrl-C in the first instant: exit as main would, quietly
    sys.exit(130)

sys.exit(main())
