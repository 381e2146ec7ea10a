"""``python -m host crosscheck [...]``: see :mod:`host.crosscheck`."""

import sys

from .crosscheck import main

if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] != "crosscheck":
        print("usage: python -m host crosscheck [--backend NAME] [--quick]", file=sys.stderr)
        sys.exit(2)
    sys.exit(main(sys.argv[2:]))
