"""`python -m model.package`: the framework archive (model/aws/framework_archive.py)."""

import sys

from .aws.framework_archive import main

if __name__ == "__main__":
    sys.exit(main())
