"""SageMaker itself: training jobs, the container image's entrypoint, the registry and deploys."""
