"""Loss functions (pure, shape-documented) and their AlignmentTerm wrappers."""
