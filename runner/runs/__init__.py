"""Layer 6: the run engine, its JSONL log, and notification."""
