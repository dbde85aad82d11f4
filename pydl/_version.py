"""The one place pydl's version is written (setup and pydl.__version__ read it)."""

__version__ = "0.1.0"
