"""Placeholder: filled by the console part."""
