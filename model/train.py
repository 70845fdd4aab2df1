"""`python -m model.train`: select, fit and save a model (model/training/run.py)."""

import sys

from .training.run import main

if __name__ == "__main__":
    sys.exit(main())
