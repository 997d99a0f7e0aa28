"""Stand-alone developer tools (run as ``python -m tools.<name>``)."""
