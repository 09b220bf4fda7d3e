"""peakline's test support (a dev-only workspace package, never a runtime dependency): throwaway
mosquitto / influxd / socat servers on free loopback ports (`servers`), a Modbus TCP/RTU peer
(`modbus_peer`), a broadcast subnet of network namespaces (`netns`), one deadline wait
(`waiting.eventually`) and a config-directory builder (`configs`). Tests, benchmarks and
scripts import it like any other package."""
