"""Notification text (en, zh-CN) and webhook bodies and signatures, pinned with known answers
computed by openssl (issue 22)."""

from __future__ import annotations

import json
import urllib.parse

from peakline_core.alerts import Transition, build_request, observe, render
from peakline_core.alerts.lifecycle import NS_PER_MINUTE
from peakline_core.alerts.webhooks import (
    SIGNATURE_HEADER,
    sign_dingtalk,
    sign_feishu,
    sign_generic,
    verify_generic,
)

T0 = 1_700_000_000 * 1_000_000_000
SUMMARY: dict[str, str | float] = {
    "kind": "threshold",
    "point": "supply_temp",
    "value": 31.5,
    "op": ">",
    "limit": 30.0,
    "for_minutes": 10.0,
}


def _opened() -> Transition:
    _, out = observe(
        None,
        "firing",
        rule="school-supply-hot",
        subject="school-hvac",
        city="riverton",
        site="rt-school",
        severity="warning",
        now_ns=T0,
        summary=SUMMARY,
    )
    return out[0]


def test_signatures_match_openssl() -> None:
    # printf '1700000000000\nSECabc' | openssl dgst -sha256 -hmac SECabc -binary | base64
    assert sign_dingtalk("SECabc", 1_700_000_000_000) == urllib.parse.quote_plus(
        "jcUpW0QmtKduN03n4JqQ0PBosVjqnM8gU7fIIvsDmCM="
    )
    # HMAC-SHA256 keyed by "1700000000\nSECabc" over the empty message
    assert sign_feishu("SECabc", 1_700_000_000) == "XprR1de+0SSBnwWyU/4k6x2TL+Q2SJlM5NNEdAv7MWg="
    # printf '1700000000.{"a":1}' | openssl dgst -sha256 -hmac whsec
    assert sign_generic("whsec", 1_700_000_000, b'{"a":1}') == (
        "t=1700000000,v1=8ad37ba156048ae0e0a5533c75cdf26fee88b07f93cb57ee4c80adb053012032"
    )


def test_generic_webhook_is_signed_and_keyed_by_transition() -> None:
    t = _opened()
    req = build_request(
        "webhook", "http://h/x", "whsec", t, render(t, "Hot", "en"), "en", T0 // 10**6
    )
    assert verify_generic("whsec", req.headers[SIGNATURE_HEADER], req.body)
    assert not verify_generic("other", req.headers[SIGNATURE_HEADER], req.body)
    assert not verify_generic("whsec", req.headers[SIGNATURE_HEADER], req.body + b" ")
    body = json.loads(req.body)
    assert body["key"] == f"{t.incident.id}:opened" == req.headers["Idempotency-Key"]
    assert body["incident"]["city"] == "riverton"


def test_chat_robot_bodies() -> None:
    t = _opened()
    msg = render(t, "学校空调供水温度过高", "zh-CN")
    wecom = json.loads(build_request("wecom", "https://q/x?key=k", None, t, msg, "zh-CN", 0).body)
    assert wecom["msgtype"] == "markdown"
    assert wecom["markdown"]["content"].startswith("**【告警】学校空调供水温度过高**")
    ding = build_request("dingtalk", "https://o/robot/send?access_token=a", "S", t, msg, "zh-CN", 5)
    assert (
        ding.url == f"https://o/robot/send?access_token=a&timestamp=5&sign={sign_dingtalk('S', 5)}"
    )
    assert json.loads(ding.body)["text"]["content"] == msg.text
    feishu = json.loads(build_request("feishu", "https://f/hook", "S", t, msg, "zh-CN", 7000).body)
    assert feishu["msg_type"] == "text" and feishu["timestamp"] == "7"
    assert feishu["sign"] == sign_feishu("S", 7)


def test_text_in_chinese_for_city_staff() -> None:
    t = _opened()
    msg = render(t, "学校空调供水温度过高", "zh-CN")
    assert msg.title == "【告警】学校空调供水温度过高"
    assert msg.lines == (
        "对象：school-hvac",
        "级别：警告",
        "开始时间：2023-11-15 06:13 (UTC+8)",
        "详情：supply_temp 当前值 31.5，连续 10 分钟超出阈值（> 30）",
    )
    _, out = observe(
        t.incident,
        "clear",
        rule="school-supply-hot",
        subject="school-hvac",
        city="riverton",
        site="rt-school",
        severity="warning",
        now_ns=T0 + 75 * NS_PER_MINUTE,
    )
    done = render(out[0], "学校空调供水温度过高", "zh-CN")
    assert done.title == "【已恢复】学校空调供水温度过高"
    assert done.lines[-1] == "持续时长：1 小时 15 分钟"


def test_text_in_english() -> None:
    t = _opened()
    msg = render(t, "School supply too hot", "en")
    assert msg.title == "[Alert] School supply too hot"
    assert "Detail: supply_temp is 31.5, past the limit (> 30) for 10 min" in msg.lines
