"""Placeholder: filled by the ws part."""
