"""Layer 8: one function per CLI verb, composing the layers below; results are data."""
