"""boto3 clients for the cloud commands, from boto3's own configuration chain.

Credentials, region and endpoints all come from boto3: the environment (`AWS_DEFAULT_REGION`,
`AWS_ENDPOINT_URL`, `AWS_ENDPOINT_URL_SAGEMAKER`, `AWS_ENDPOINT_URL_S3`, ...), the shared config
files, or an instance role. No endpoint-URL option of our own: pointing the commands at another
server (moto's, in the tests) is done with those variables.
"""

from typing import Any

import boto3
from botocore.config import Config

USER_AGENT_EXTRA = "django-hybrid-recommendations-deploy"

# Control-plane calls are few and may be throttled; standard mode backs off with jitter.
CLIENT_CONFIG = Config(
    connect_timeout=10,
    read_timeout=60,
    retries={"mode": "standard", "max_attempts": 5},
    user_agent_extra=USER_AGENT_EXTRA,
)


class Clients:
    """One client per AWS service, made on first use from one boto3 session."""

    def __init__(self, session: boto3.session.Session | None = None) -> None:
        self.session = session or boto3.session.Session()
        self._clients: dict[str, Any] = {}

    def get(self, service: str, region: str | None = None) -> Any:
        """The client of `service` ("sagemaker", "s3", ...), in `region` or the configured one."""
        key = f"{service}@{region or ''}"
        client = self._clients.get(key)
        if client is None:
            client = self.session.client(service, region_name=region, config=CLIENT_CONFIG)
            self._clients[key] = client
        return client

    @property
    def sagemaker(self) -> Any:
        """The SageMaker control-plane client."""
        return self.get("sagemaker")
