"""`python -m model.register`: an artefact into the Model Registry (model/aws/register.py)."""

import sys

from .aws.register import main

if __name__ == "__main__":
    sys.exit(main())
