"""`python -m model.deploy`: deploy a model to a SageMaker endpoint (model/aws/deploy/)."""

import sys

from .aws.deploy.cli import main

if __name__ == "__main__":
    sys.exit(main())
