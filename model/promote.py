"""`python -m model.promote`: the gate on a registered candidate (model/aws/promote.py)."""

import sys

from .aws.promote import main

if __name__ == "__main__":
    sys.exit(main())
