"""Outbound edges: cost sources, inventories, chat transports; one module per provider."""
