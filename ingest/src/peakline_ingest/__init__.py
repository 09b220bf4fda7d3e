"""peakline_ingest: MQTT telemetry to InfluxDB or SQLite, acknowledged after a durable write."""
