"""Compiled kernels, one extension module per family (built from csrc/*.pyx)."""
