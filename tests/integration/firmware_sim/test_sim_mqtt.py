"""MQTT sensors publish JSON on their own topics through a real mosquitto."""

from __future__ import annotations

import asyncio
import json

import aiomqtt

from firmware_sim import Scenario, run


async def test_air_sensor_publishes_profile_fields(mosquitto, profiles, topic_prefix) -> None:
    sc = Scenario.model_validate(
        {
            "speed": 60,
            "devices": [
                {
                    "id": "air",
                    "profile": "air-sensor",
                    "listen": {"driver": "mqtt", "topic": f"{topic_prefix}/air", "interval_s": 30},
                }
            ],
        }
    )
    async with aiomqtt.Client(mosquitto.host, mosquitto.port) as sub:
        await sub.subscribe(f"{topic_prefix}/#")
        async with run(sc, profiles, mqtt_url=mosquitto.url) as sim:
            assert sim.endpoints["air"].topic == f"{topic_prefix}/air"
            msg = await asyncio.wait_for(anext(aiomqtt_messages(sub)), 30)
    body = json.loads(msg.payload)
    assert set(body) == {"time", "temperature", "co2", "pm2_5", "occupancy", "humidity", "battery"}
    assert 300 < body["co2"] < 5000 and body["time"].endswith("Z")


async def aiomqtt_messages(client: aiomqtt.Client):
    async for message in client.messages:
        yield message
