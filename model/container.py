"""`python -m model.container`: the image's entrypoint, serve or train (model/aws/container.py)."""

import sys

from .aws.container import main

if __name__ == "__main__":
    sys.exit(main())
