"""The web app for project leads, the Sitzungsdienst and administrators (``lifecycle web``)."""

from .app import create_app

__all__ = ["create_app"]
