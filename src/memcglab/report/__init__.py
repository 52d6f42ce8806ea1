"""Output: counterexample diagrams, text reports and JSON. The only layer that formats."""
