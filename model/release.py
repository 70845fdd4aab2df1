"""`python -m model.release`: train a version and make it current (model/training/release.py)."""

import sys

from .training.release import main

if __name__ == "__main__":
    sys.exit(main())
