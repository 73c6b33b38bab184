"""Pure decoding of Bitcoin bytes: blocks, transactions, scripts and addresses. No I/O."""
