"""`python -m model.evaluate`: the offline evaluation table (model/evaluation/offline.py)."""

import sys

from .evaluation.offline import main

if __name__ == "__main__":
    sys.exit(main())
