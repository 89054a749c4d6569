"""pytest plugin entry point (``pytest11``): exposes the contract-kit fixtures to plugin authors."""
