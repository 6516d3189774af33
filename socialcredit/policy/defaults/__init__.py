"""The shipped default policy files (read with ``importlib.resources``)."""
