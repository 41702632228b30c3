"""Layer 9: argument parsing and rendering only."""
