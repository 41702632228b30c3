"""Layer 5: what a run does to the objects its search selected; one file per module."""
