"""Lambda execution environments as host processes for LocalStack (see plugin.py, init.py)."""
