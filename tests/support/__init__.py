"""Helpers the shelves share (not collected): ``world`` builds a tenant through the admin API,
``processes`` starts ``authority serve`` as a real process."""
