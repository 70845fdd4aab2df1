"""`python -m model.serve`: the SageMaker Runtime stand-in (model/local_endpoint/server.py)."""

import sys

from .local_endpoint.server import main

if __name__ == "__main__":
    sys.exit(main())
