"""Redis adapters: the grant and directory store, the person and identity stores, the access-log
buffer, the pipelined connection, and the embedded private redis-server."""
