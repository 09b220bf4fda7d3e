"""peakline_ingest."""
