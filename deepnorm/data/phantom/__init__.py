"""The embedded multi-site phantom: anatomy, per-site contrast and acquisition, and the build."""
