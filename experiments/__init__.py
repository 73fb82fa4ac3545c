"""Experiments that orchestrate compress -> sim -> hw: `sweep` (`python -m hw.sweep`)."""
