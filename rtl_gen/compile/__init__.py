"""IR -> layer program, memory image and performance model for the engine."""
