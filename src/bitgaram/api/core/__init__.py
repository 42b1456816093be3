"""Configuration of the web API."""
