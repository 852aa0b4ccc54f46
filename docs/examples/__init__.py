"""Runnable examples (the tests start them)."""
