"""Sweeps: design experiment plans and run them, locally or on a Ray cluster, resumably."""
