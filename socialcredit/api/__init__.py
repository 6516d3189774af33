"""The HTTP service: ``create_app(settings)`` builds it; ``server.serve`` runs it with uvicorn."""
