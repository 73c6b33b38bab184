"""Miner cohorts and coin flows (SPEC section 5): exchange labels and the pure per-block step."""
