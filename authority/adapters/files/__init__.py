"""File adapters: the erasure ledger and backup archives on the data directory."""
