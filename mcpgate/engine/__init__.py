"""The engine: executors start and stop virtual users on schedule."""
