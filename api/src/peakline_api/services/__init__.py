"""What the routers call: query composition and computations over the store, the registry and
the app's state. Routers parse, authorise, call one of these and shape the response; a service
never imports a router (import contracts in pyproject.toml)."""
