"""Use cases: thin commands over the domain that depend only on the narrow ports they need."""
