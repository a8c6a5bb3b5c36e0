"""Process supervisors: --workers (multiprocess) and --reload."""
