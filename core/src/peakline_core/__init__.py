"""peakline_core."""
