"""Test support (never part of the product): driving the local stack (drive), fault
injection into it (faults), free ports for its servers (ports)."""
