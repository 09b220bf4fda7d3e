#!/bin/bash
# Runs once, on the first start of an empty InfluxDB 2 volume (after the setup made the org,
# bucket and admin token from DOCKER_INFLUXDB_INIT_*).
#
# peakline speaks the InfluxDB 1.x API (/write line protocol, /query InfluxQL), which 2.x
# serves through its v1 compatibility layer. This maps database "peakline", retention policy
# "autogen", onto the bucket, and creates one v1 login per service with only the rights it
# needs. Services authenticate with `Authorization: Token <user>:<password>`.
set -euo pipefail

org="${DOCKER_INFLUXDB_INIT_ORG}"
token="${DOCKER_INFLUXDB_INIT_ADMIN_TOKEN}"
bucket="${DOCKER_INFLUXDB_INIT_BUCKET}"
db="${PEAKLINE_INFLUX_DB:-peakline}"

bucket_id="$(influx bucket list --org "$org" --token "$token" --name "$bucket" --hide-headers | cut -f1)"
if [ -z "$bucket_id" ]; then
    echo "peakline: bucket $bucket not found" >&2
    exit 1
fi

influx v1 dbrp create --org "$org" --token "$token" \
    --db "$db" --rp autogen --bucket-id "$bucket_id" --default

influx v1 auth create --org "$org" --token "$token" \
    --username peakline-ingest --password "$PEAKLINE_INGEST_INFLUX_PASSWORD" \
    --write-bucket "$bucket_id" --read-bucket "$bucket_id"

influx v1 auth create --org "$org" --token "$token" \
    --username peakline-api --password "$PEAKLINE_API_INFLUX_PASSWORD" \
    --read-bucket "$bucket_id"

influx v1 auth create --org "$org" --token "$token" \
    --username peakline-grafana --password "$GRAFANA_INFLUX_PASSWORD" \
    --read-bucket "$bucket_id"

echo "peakline: database $db/autogen -> bucket $bucket ($bucket_id); v1 logins created"
