"""Measurements with a baseline in the same run; never assertions. Run one with
`python -m benchmarks.<name>`."""
