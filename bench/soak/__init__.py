"""The soak: production mode against the simulator for N minutes, every schedule each minute, then its checks."""
