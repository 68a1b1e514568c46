"""Processes of one authority host: the supervisor behind ``authority serve --workers N``, its
children (workers on one shared port, one log process), and what they tell each other."""
