"""Pure domain: no transport, no database, no crypto library. Plain typed Python."""
