"""Quota usage as bar charts, computed here and drawn by the template as inline SVG: no chart library, no
script, readable without CSS (each bar also has its figures as text and an SVG title)."""

from __future__ import annotations

from dataclasses import dataclass

WARN_AT = 0.8


@dataclass(frozen=True)
class Bar:
    label: str
    used: int
    limit: int  # -1: unlimited
    unit: str = ""

    @property
    def unlimited(self) -> bool:
        return self.limit < 0

    @property
    def fraction(self) -> float:
        """Used over limit, capped at 1; an unlimited or zero limit draws an empty (or full) bar."""
        if self.unlimited:
            return 0.0
        if self.limit == 0:
            return 1.0 if self.used else 0.0
        return min(1.0, self.used / self.limit)

    @property
    def percent(self) -> int:
        return round(self.fraction * 100)

    @property
    def level(self) -> str:
        """ok, warn (at least 80 %) or full: the bar's colour class, and a word for those who cannot see it."""
        if self.unlimited or self.fraction < WARN_AT:
            return "ok"
        return "full" if self.fraction >= 1.0 else "warn"

    @property
    def text(self) -> str:
        unit = f" {self.unit}" if self.unit else ""
        if self.unlimited:
            return f"{self.used:,}{unit} used, no limit"
        return f"{self.used:,} of {self.limit:,}{unit} used"


def quota_bars(compute: dict, network: dict, image: dict) -> list[Bar]:
    """The overview's bars from Nova's quota-set detail, Neutron's quota details and Glance's usage."""

    def nova(key: str) -> tuple[int, int]:
        item = compute.get(key) or {}
        return int(item.get("in_use", 0)), int(item.get("limit", -1))

    def neutron(key: str) -> tuple[int, int]:
        item = network.get(key) or {}
        return int(item.get("used", 0)), int(item.get("limit", -1))

    images = image.get("image_count_total") or {}
    # L3 resources only when Neutron counts them: a cloud without them shows no made-up "no limit" bars.
    l3 = [
        Bar(label, *neutron(key))
        for key, label in (("router", "Routers"), ("floatingip", "Floating IPs"))
        if key in network
    ]
    return [
        Bar("Instances", *nova("instances")),
        Bar("vCPUs", *nova("cores")),
        Bar("RAM", *nova("ram"), unit="MiB"),
        Bar("Networks", *neutron("network")),
        Bar("Ports", *neutron("port")),
        *l3,
        Bar("Images", int(images.get("usage", 0)), int(images.get("limit", -1))),
    ]
