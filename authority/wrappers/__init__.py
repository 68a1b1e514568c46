"""Wrappers around ports: the coalescing round trip and the in-process directory replica."""
