.PHONY: dev test lint protos

# Start the service locally (emulator, server, gateway) on SQLite.
dev:
	scripts/dev

# Run the test suite (set PAYMENTSVC_TEST_DATABASE_URL to add PostgreSQL).
test:
	scripts/test

lint:
	scripts/lint

# Regenerate the Python stubs from protos/.
protos:
	scripts/generate-protos
