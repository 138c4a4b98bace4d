"""Préau control plane: config, state, identity, web UI and API, scheduler, metrics."""
