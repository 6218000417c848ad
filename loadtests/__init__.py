"""Locust scenarios and the reference IM service that perfgate gates by default."""
