"""What the notebooks call: display helpers, the kernel environment, progress, parameter checks, and the
analysis and exploration of findings."""
