"""Interfaces between the authority's own processes (generated code in ``v1``; never served on a
public listener)."""
