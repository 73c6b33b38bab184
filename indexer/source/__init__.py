"""Where blocks come from: Bitcoin Core's block files (and, later, its RPC)."""
