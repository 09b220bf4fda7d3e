"""SunSpec discovery for installers: `peakline sunspec scan` finds a device's 'SunS' marker,
walks its model chain and writes a reviewed profile with scale factors and sentinels.

`chain` (register image -> model blocks) and `models` / `profile` (model definitions from
pysunspec2 -> profile points) are pure; `scan` does the reads over the edge's `ModbusBus`."""
