"""Adapters: the domain's ports implemented on one engine each (redis, clickhouse, crypto,
files)."""
