"""Domain: exchange configs, services and errors. Imports no framework and no ccxt."""
