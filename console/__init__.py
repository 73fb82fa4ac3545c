"""What the user sees while work runs: progress that reads well in a terminal, a notebook and a log."""
