"""Inbound edges: HTTP routes, Slack listeners, webhooks, the scheduler and the CLI. Thin."""
