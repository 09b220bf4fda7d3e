"""peakline_api."""
