"""Training: the configuration schema and profiles, the four methods, Algorithm 1, the loop, checkpoints and run folders."""
