"""Layer 1: the validated shapes of task files, runner.yaml, datamodel.yaml and their loading."""
