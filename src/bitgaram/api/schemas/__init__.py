"""Pydantic schemas of the API, one module per resource (``XPublic`` for what is returned)."""
