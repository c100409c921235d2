"""Prefect flows of the lifecycle engine: thin orchestration around ``lifecycle``."""
