"""Test helpers shipped with edgekit: stand-ins for runtimes CI cannot install."""
