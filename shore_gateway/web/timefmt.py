"""Times, durations, distances and counts for people — the one formatter of every page.

Pages never show an ISO string: a :class:`Humane` (built per request with the reader's locale,
time zone and "now") turns the views' machine values into words. Units, numbers, dates and
list joining come from CLDR through Babel, so the seven portal languages get their own unit
names and date order; the few phrases around them ("in {0}", "{0} ago", "overdue by {0}") come
from the page catalog (:mod:`shore_gateway.web.catalog`). JSON and CSV keep machine forms
(ISO 8601 with offset): only HTML goes through here.

- relative where the reader acts on it: ``"in 2 hr 10 min"``, ``"overdue by 3 hr"``,
  ``"3 hr ago"`` (two units at most, rounded down, so a clock never claims more time left
  than there is);
- absolute in the reader's zone: ``"Dec 4, 2026, 10:26 GMT+07:00"``;
- positions: ``"fix 1 hr ago, ±28 km"``; counts: ``"1 lot"``, ``"3 lots"``.
"""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from babel import Locale
from babel.dates import format_date, format_skeleton
from babel.lists import format_list
from babel.numbers import format_decimal
from babel.units import format_unit
from markupsafe import Markup, escape

from shore_gateway.errors import RemoteError

UTC = dt.UTC
#: (unit, seconds) from the largest; a duration shows its two largest non-zero units.
_UNITS = (("day", 86400), ("hour", 3600), ("minute", 60), ("second", 1))

#: Phrases around the CLDR pieces, in English (the catalog supplies other languages).
PHRASES_EN: dict[str, str] = {
    "in": "in {0}",
    "ago": "{0} ago",
    "overdue_by": "overdue by {0}",
    "now": "just now",
    "fix": "fix {0} ago",
    "never": "never",
}


class BadTimeZone(RemoteError, ValueError):
    """Not an IANA time zone name."""


@lru_cache(maxsize=1)
def time_zones() -> frozenset[str]:
    """The IANA zone names this host knows (``Asia/Bangkok``…) plus ``UTC``."""
    return frozenset(zoneinfo.available_timezones()) | {"UTC"}


def zone(name: str | None) -> dt.tzinfo:
    """The zone called ``name`` (``None``/empty: UTC). Raises :class:`BadTimeZone`."""
    if not name or name == "UTC":
        return UTC
    if name not in time_zones():
        raise BadTimeZone(f"unknown time zone {name!r} (use a name like Asia/Bangkok)")
    return zoneinfo.ZoneInfo(name)


def parse(value: dt.datetime | str | None) -> dt.datetime | None:
    """A view's value (aware datetime or ISO string) as an aware datetime; None stays None."""
    if value is None or value == "":
        return None
    when = value if isinstance(value, dt.datetime) else dt.datetime.fromisoformat(value)
    return when if when.tzinfo else when.replace(tzinfo=UTC)


@dataclass(frozen=True)
class Humane:
    """Formats for one reader: ``locale`` (``en``, ``th``…), ``tz`` and the moment ``now``."""

    locale: str = "en"
    tz: dt.tzinfo = UTC
    now: dt.datetime = field(default_factory=lambda: dt.datetime.now(UTC))
    phrases: dict[str, str] = field(default_factory=lambda: dict(PHRASES_EN))

    # --- durations -----------------------------------------------------------------------

    def duration(self, seconds: float, *, units: int = 2) -> str:
        """``7800`` → ``"2 hr 10 min"`` (the ``units`` largest non-zero units, rounded down)."""
        left = int(abs(seconds))
        if left < 60:
            return format_unit(left, "duration-second", length="short", locale=self.locale)
        amounts = []
        for unit, size in _UNITS[:3]:  # days, hours, minutes
            n, left = divmod(left, size)
            amounts.append((unit, n))
        first = next(i for i, (_u, n) in enumerate(amounts) if n)
        parts = [
            format_unit(n, f"duration-{unit}", length="short", locale=self.locale)
            for unit, n in amounts[first : first + units]
            if n
        ]
        return _join(parts, self.locale)

    def ago(self, value: dt.datetime | str | None) -> str:
        """``"3 hr ago"`` for the past, ``"in 5 min"`` for the future, ``"now"`` within 30 s."""
        when = parse(value)
        if when is None:
            return self.phrases["never"]
        delta = (self.now - when).total_seconds()
        if abs(delta) < 30:
            return self.phrases["now"]
        key = "ago" if delta > 0 else "in"
        return self.phrases[key].format(self.duration(delta))

    def clock(self, due: dt.datetime | str | None) -> dict[str, Any] | None:
        """A deadline as ``{"text", "overdue", "seconds"}``: ``"in 2 hr 10 min"`` or
        ``"overdue by 3 hr"`` (``seconds`` < 0 when overdue); None without a deadline."""
        when = parse(due)
        if when is None:
            return None
        left = (when - self.now).total_seconds()
        if left < 0:
            return {
                "text": self.phrases["overdue_by"].format(self.duration(left)),
                "overdue": True,
                "seconds": int(left),
            }
        return {
            "text": self.phrases["in"].format(self.duration(left)),
            "overdue": False,
            "seconds": int(left),
        }

    # --- absolute ------------------------------------------------------------------------

    def at(self, value: dt.datetime | str | None) -> str:
        """Date and time in the reader's zone and locale, with the zone's offset."""
        when = parse(value)
        if when is None:
            return self.phrases["never"]
        local = when.astimezone(self.tz)
        loc = Locale.parse(self.locale)
        day = format_skeleton("yMMMd", local, locale=loc)
        clock = format_skeleton("Hm", local, locale=loc)
        text = str(loc.datetime_formats["medium"]).format(clock, day)
        return f"{text} {self.zone_label(local)}"

    def date(self, value: dt.datetime | str | None) -> str:
        """A calendar date (trips, action deadlines) in the reader's zone."""
        when = parse(value)
        if when is None:
            return self.phrases["never"]
        return format_date(when.astimezone(self.tz), "medium", locale=self.locale)

    def zone_label(self, local: dt.datetime | None = None) -> str:
        """``UTC`` or ``GMT+07:00`` (the offset at ``local``, default now)."""
        local = local or self.now.astimezone(self.tz)
        offset = local.utcoffset() or dt.timedelta(0)
        if not offset:
            return "UTC"
        minutes = int(offset.total_seconds() // 60)
        sign = "+" if minutes >= 0 else "-"
        return f"GMT{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"

    def when(self, value: dt.datetime | str | None) -> Markup:
        """``<time>`` with the absolute time and how long ago, machine form in the attribute."""
        when = parse(value)
        if when is None:
            return escape(self.phrases["never"])
        return Markup('<time datetime="{}" title="{}">{} ({})</time>').format(
            when.astimezone(UTC).isoformat(timespec="seconds"),
            self.at(when),
            self.at(when),
            self.ago(when),
        )

    def since(self, value: dt.datetime | str | None) -> Markup:
        """``<time>`` showing only how long ago (absolute time as the tooltip)."""
        when = parse(value)
        if when is None:
            return escape(self.phrases["never"])
        return Markup('<time datetime="{}" title="{}">{}</time>').format(
            when.astimezone(UTC).isoformat(timespec="seconds"), self.at(when), self.ago(when)
        )

    def text(self, message: str) -> str:
        """A machine-written message (an alert's detail) with every ISO time in it written
        for the reader: ``"since 2026-12-04T03:26+00:00"`` → ``"since Dec 4, 2026, 03:26 UTC"``."""
        return _ISO.sub(lambda m: self.at(_iso_match(m.group(0))), message)

    # --- quantities ----------------------------------------------------------------------

    def distance(self, metres: float | None) -> str:
        """``800 m``, ``28 km`` (kilometres from 1 km, no false precision)."""
        if metres is None:
            return "?"
        if metres < 1000:
            return format_unit(
                round(metres, -1) or round(metres),
                "length-meter",
                length="short",
                locale=self.locale,
            )
        km = metres / 1000
        value = round(km, 1) if km < 10 else round(km)
        return format_unit(value, "length-kilometer", length="short", locale=self.locale)

    def fix(self, position: dict[str, Any] | None) -> str:
        """A grievance's position context: ``"fix 1 hr ago, ±28 km"``."""
        if not position:
            return ""
        age = position.get("age_s")
        aged = self.phrases["fix"].format(self.duration(age or 0)) if age is not None else ""
        err = position.get("uncertainty_m")
        spread = f"±{self.distance(err)}" if err is not None else ""
        return ", ".join(p for p in (aged, spread) if p)

    def number(self, value: float) -> str:
        return format_decimal(value, locale=self.locale)

    def count(self, n: int, one: str, other: str) -> str:
        """``1 lot`` / ``3 lots`` by the locale's plural rule (English words for staff)."""
        form = Locale.parse(self.locale).plural_form(n)
        return f"{self.number(n)} {one if form == 'one' else other}"


_ISO = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?")


def _iso_match(text: str) -> dt.datetime:
    return parse(text.replace("Z", "+00:00")) or dt.datetime.now(UTC)


def _join(parts: list[str], locale: str) -> str:
    if len(parts) == 1:
        return parts[0]
    for style in ("unit-narrow", "unit-short", "unit"):
        try:
            return format_list(parts, style=style, locale=locale)
        except KeyError:  # not every locale has every list style
            continue
    return " ".join(parts)
