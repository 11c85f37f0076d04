"""Test support: fault injection into the local stack (never part of the product)."""
