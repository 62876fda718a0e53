"""Seed 003's stage endpoints: each stage of the pipeline on its own, run as an operation (a task)."""
