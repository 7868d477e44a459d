"""The package version (one place; ``agenteval --version`` and run manifests read it)."""

__version__ = "0.1.0"
