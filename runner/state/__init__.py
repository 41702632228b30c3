"""Layer 4: the runner's own bookkeeping (runs, leases, checkpoints), one module per backend."""
