"""Deploying a model to a SageMaker endpoint: `python -m model.deploy` (see docs/deploy.md).

Modules: `spec` (what is asked, resource names), `resources` / `traffic` / `monitoring` (the
requests), `checks` (before anything is made), `plan` (making or printing calls), `waiting`,
`modes` (create, replace, add, weights), `errors`, `clients`, `cli`.
"""
