"""Vectorized device physics: numpy over devices and over simulated time steps."""
