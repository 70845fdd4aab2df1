"""`python -m model.train_job`: a SageMaker training job (model/aws/train_job.py)."""

import sys

from .aws.train_job import main

if __name__ == "__main__":
    sys.exit(main())
