"""The HTTP server (collect webhooks, health, status) and the local control socket for the CLI."""
