"""The admin web UI and JSON API (aiohttp, server-side templates)."""
