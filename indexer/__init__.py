"""minerflow: index a local Bitcoin node's chain into pool attribution and miner flow series."""

__version__ = "0.1.0"
