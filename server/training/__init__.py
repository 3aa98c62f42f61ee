"""Offline data generation and fitting for the imaging core's learned parts."""
