"""peakline_cli."""
