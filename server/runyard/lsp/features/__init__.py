"""Server features, one module each, every one with a ``register(server)`` function."""
