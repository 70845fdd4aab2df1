"""The error a backend module raises when the SDK it needs is not installed.

The SDKs are extras of the package (`pip install "django-hybrid-recommendations[sagemaker]"`), as
anymail ships each provider's: a shop installs only the one its backend uses. A backend module
imports its SDK at the top and turns the ImportError into this one, which names the extra.
"""

DISTRIBUTION = "django-hybrid-recommendations"


class MissingExtra(ImportError):
    """A backend's SDK (or boto3 for S3 and CloudWatch) is missing: the message names the extra."""

    def __init__(self, what: str, extra: str, error: ImportError) -> None:
        missing = error.name or str(error)
        super().__init__(
            f"The {what} needs {missing}, which is not installed: "
            f'pip install "{DISTRIBUTION}[{extra}]"',
            name=error.name,
        )
        self.extra = extra
