"""Fixtures of the model half's tests (tests/conftest.py has the shared ones)."""

import pytest


@pytest.fixture
def aws(moto_url, monkeypatch, tmp_path):
    """boto3's environment set to moto's server, with a role, an ECR image and a bucket there."""
    from tests.support.sagemaker_on_moto import aws_on_moto

    return aws_on_moto(moto_url, monkeypatch, tmp_path)
