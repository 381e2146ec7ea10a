"""Cycle-accurate simulation of the RoI-pool engine and its cycle model."""
