"""peakline_edge."""
