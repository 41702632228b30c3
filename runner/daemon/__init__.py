"""Layer 7: the daemon: watcher, reconciler, scheduler loop, signals."""
