"""Which pool found a block: the pools list and the SPEC section 4 matcher."""
