"""The version: a leaf module, so code that needs it (the User-Agent, `--version`) never imports
the package root and, with it, the client."""

__version__ = "0.1.0"
