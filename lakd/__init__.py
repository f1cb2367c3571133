"""LAKD Studio's distillation engine (no UI code here: usable from a notebook or the CLI)."""
__version__ = "0.1.0"
