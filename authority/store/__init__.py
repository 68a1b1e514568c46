"""Redis adapters: the grant and directory store, its in-process directory replica, the
coalescing snapshot reader, and the embedded private redis-server."""
