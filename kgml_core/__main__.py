"""``python -m kgml_core``: the command-line interface."""
import sys

from kgml_core.cli import main

if __name__ == "__main__":
    sys.exit(main())
