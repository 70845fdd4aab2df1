"""`python -m model.package`: the framework container's model.tar.gz (model/aws/framework_archive.py)."""

import sys

from .aws.framework_archive import main

if __name__ == "__main__":
    sys.exit(main())
