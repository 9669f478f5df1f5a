"""Use cases: one function per thing a caller can ask the service to do."""
