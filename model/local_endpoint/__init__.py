"""A SageMaker Runtime stand-in for the demo, tests and bench: SigV4, faults, model swaps.

The container image serves its `POST /invocations` with the same WSGI app (model/aws/container.py).
"""
