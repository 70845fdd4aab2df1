"""What `model.tar.gz` ships: the model's file format, the request protocol and the handlers.

Self-contained (it imports nothing else from `model`), so model/aws/framework_archive.py copies
the folder whole.
"""

from __future__ import annotations
