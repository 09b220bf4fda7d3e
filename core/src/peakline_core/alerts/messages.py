"""Notification text in the recipient's language (en, zh-CN), written for city energy staff.

An incident's ``summary`` says what tripped it (``kind`` plus figures); this module turns a
transition into a title and a few lines of plain text. Times are shown in local time
(China Standard Time by default).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from peakline_core.alerts.lifecycle import NS_PER_MINUTE, Transition

_SEVERITY = {
    "en": {"info": "info", "warning": "warning", "critical": "critical"},
    "zh-CN": {"info": "提示", "warning": "警告", "critical": "严重"},
}
_TITLE = {
    "en": {
        "opened": "[Alert] {name}",
        "acknowledged": "[Acknowledged] {name}",
        "resolved": "[Resolved] {name}",
        "reminder": "[Still open] {name}",
    },
    "zh-CN": {
        "opened": "【告警】{name}",
        "acknowledged": "【已认领】{name}",
        "resolved": "【已恢复】{name}",
        "reminder": "【仍未处理】{name}",
    },
}
_LABELS = {
    "en": {
        "subject": "Where",
        "severity": "Severity",
        "since": "Since",
        "detail": "Detail",
        "by": "Acknowledged by",
        "comment": "Comment",
        "lasted": "Lasted",
        "open_for": "Open for",
    },
    "zh-CN": {
        "subject": "对象",
        "severity": "级别",
        "since": "开始时间",
        "detail": "详情",
        "by": "认领人",
        "comment": "备注",
        "lasted": "持续时长",
        "open_for": "已持续",
    },
}
_OUTCOME_ZH = {"failed": "执行失败", "expired": "已过期未执行", "rejected": "被拒绝"}


@dataclass(frozen=True)
class Message:
    title: str
    lines: tuple[str, ...]

    @property
    def text(self) -> str:
        return "\n".join((self.title, *self.lines))


def _minutes(ns: int, language: str) -> str:
    minutes = max(0, round(ns / NS_PER_MINUTE))
    if language == "zh-CN":
        return f"{minutes // 60} 小时 {minutes % 60} 分钟" if minutes >= 60 else f"{minutes} 分钟"
    return f"{minutes // 60} h {minutes % 60} min" if minutes >= 60 else f"{minutes} min"


def _num(value: str | float) -> str:
    if isinstance(value, float):
        return f"{value:,.0f}" if value.is_integer() else f"{value:,.1f}"
    return str(value)


def detail(summary: dict[str, str | float], language: str) -> str:
    """One line saying what tripped the rule."""
    kind = summary.get("kind")
    g = {k: _num(v) for k, v in summary.items()}
    zh = language == "zh-CN"
    if kind == "threshold":
        if zh:
            return (
                f"{g['point']} 当前值 {g['value']}，连续 {g['for_minutes']} 分钟超出阈值"
                f"（{g['op']} {g['limit']}）"
            )
        return (
            f"{g['point']} is {g['value']}, past the limit ({g['op']} {g['limit']}) "
            f"for {g['for_minutes']} min"
        )
    if kind == "no_data":
        if zh:
            return f"已超过 {g['minutes']} 分钟未收到数据，请检查仪表或网关是否离线"
        return f"no data for more than {g['minutes']} min: check the meter or its gateway"
    if kind == "anomaly":
        if zh:
            return f"检测到异常（{g['event_kind']}），异常评分 {g['score']}"
        return f"anomaly detected ({g['event_kind']}), score {g['score']}"
    if kind == "command":
        if zh:
            return (
                f"控制指令 {g['command']} {_OUTCOME_ZH.get(str(summary['outcome']), g['outcome'])}"
            )
        return f"control command {g['command']} {g['outcome']}"
    if kind == "daily_energy":
        if zh:
            return (
                f"{g['day']} 用能 {g['kwh']} kWh，超出基线 {g['baseline_kwh']} kWh "
                f"的 {g['over_percent']}%"
            )
        return (
            f"{g['day']}: {g['kwh']} kWh, {g['over_percent']} % over the "
            f"{g['baseline_kwh']} kWh baseline"
        )
    if kind == "daily_emissions":
        if zh:
            return (
                f"{g['day']} 碳排放 {g['kgco2e']} kgCO2e，超出基线 {g['baseline_kgco2e']} "
                f"kgCO2e 的 {g['over_percent']}%"
            )
        return (
            f"{g['day']}: {g['kgco2e']} kgCO2e, {g['over_percent']} % over the "
            f"{g['baseline_kgco2e']} kgCO2e baseline"
        )
    if kind == "city_month":
        yoy = g.get("basis") == "year_on_year"
        if zh:
            basis = "与去年同期相同站点按达峰路径比例" if yoy else "各站点自身目标按天折算"
            return (
                f"{g['month']} {g['sites']} 个站点排放 {g['actual_kgco2e']} kgCO2e，超出达峰路径"
                f"允许的 {g['allowed_kgco2e']} kgCO2e（{basis}）"
            )
        basis = (
            "the same sites' same dates last year times the path's ratio"
            if yoy
            else "the sites' own targets pro rata"
        )
        return (
            f"{g['month']}: {g['sites']} sites emitted {g['actual_kgco2e']} kgCO2e against "
            f"{g['allowed_kgco2e']} kgCO2e allowed by the path ({basis})"
        )
    if kind == "refrigerant_leak":
        if zh:
            return (
                f"制冷设备 {g['asset']}（{g['refrigerant']}，充注量 {g['charge_kg']} kg）"
                f"{g['year']} 年已补充 {g['topped_up_kg']} kg，超过充注量的 {g['share_percent']}%："
                "疑似泄漏，请检修"
            )
        return (
            f"{g['asset']} ({g['refrigerant']}, {g['charge_kg']} kg charge) topped up "
            f"{g['topped_up_kg']} kg in {g['year']}, over {g['share_percent']} % of its charge: "
            "a likely leak, have it repaired"
        )
    if kind == "spool_backlog":
        if zh:
            return (
                f"网关 {g['agent']} 积压 {g['readings']} 条未上传数据，最早一条已等待 "
                f"{g['oldest_minutes']} 分钟"
            )
        return (
            f"gateway {g['agent']} holds {g['readings']} unsent readings, the oldest waiting "
            f"{g['oldest_minutes']} min"
        )
    return ""


def render(
    transition: Transition, rule_name: str, language: str, utc_offset_hours: float = 8.0
) -> Message:
    """The message for one transition in `language` ("en" or "zh-CN")."""
    lang = "zh-CN" if language == "zh-CN" else "en"
    inc = transition.incident
    labels = _LABELS[lang]
    sep = "：" if lang == "zh-CN" else ": "
    local = dt.datetime.fromtimestamp(inc.opened_ns / 1e9, dt.UTC) + dt.timedelta(
        hours=utc_offset_hours
    )
    lines = [
        f"{labels['subject']}{sep}{inc.subject}",
        f"{labels['severity']}{sep}{_SEVERITY[lang].get(inc.severity, inc.severity)}",
        f"{labels['since']}{sep}{local:%Y-%m-%d %H:%M} (UTC{utc_offset_hours:+g})",
    ]
    what = detail(inc.summary, lang)
    if what:
        lines.append(f"{labels['detail']}{sep}{what}")
    if transition.kind == "acknowledged":
        lines.append(f"{labels['by']}{sep}{inc.acknowledged_by}")
        if inc.comment:
            lines.append(f"{labels['comment']}{sep}{inc.comment}")
    elif transition.kind == "resolved":
        lines.append(f"{labels['lasted']}{sep}{_minutes(transition.at_ns - inc.opened_ns, lang)}")
    elif transition.kind == "reminder":
        lines.append(
            f"{labels['open_for']}{sep}{_minutes(transition.at_ns - inc.opened_ns, lang)}"
            + ("，尚无人认领" if lang == "zh-CN" else ", not acknowledged yet")
        )
    return Message(_TITLE[lang][transition.kind].format(name=rule_name), tuple(lines))


_DIGEST_TITLE = {"en": "[Digest] {n} alert changes", "zh-CN": "【告警汇总】{n} 条变化"}


def render_digest(entries: Sequence[tuple[Transition, str]], language: str) -> Message:
    """One message for a digest period: a line per transition (its title, where, and what
    tripped the rule), in the order they happened."""
    lang = language if language in _TITLE else "zh-CN"
    sep = "：" if lang == "zh-CN" else ": "
    lines = []
    for t, name in sorted(entries, key=lambda e: (e[0].at_ns, e[0].key)):
        line = f"{_TITLE[lang][t.kind].format(name=name)} · {t.incident.subject}"
        what = detail(t.incident.summary, lang) if t.kind in ("opened", "reminder") else ""
        lines.append(f"{line}{sep}{what}" if what else line)
    return Message(_DIGEST_TITLE[lang].format(n=len(lines)), tuple(lines))
