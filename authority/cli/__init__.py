"""The command line: `authority …`, one module per command group."""
