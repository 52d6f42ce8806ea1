"""Fairness and contention metrics: pure functions over what a simulation counted."""
