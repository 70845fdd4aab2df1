"""django-hybrid-recommendations: a "recommended for you" widget fed by a SageMaker endpoint."""

__version__ = "0.1.0"
