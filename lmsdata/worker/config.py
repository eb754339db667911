"""The worker's settings: schedules, automatic retries, alert thresholds (per-district overrides) and channels.

Read from a TOML file (`LMSDATA_WORKER_CONFIG` or `--config`); every key is optional. Channel URLs are
secrets: they are registered with `lmsdata.redact` as soon as they are read.
"""

from __future__ import annotations

import dataclasses
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lmsdata.config import ConfigError
from lmsdata.health import Thresholds
from lmsdata.redact import register_secret

MINUTE = 60.0
HOUR = 3600.0
# In the spirit of Stripe's webhook retries: minutes first, then hours, for about three days in all.
DEFAULT_BACKOFF_S = (5 * MINUTE, 30 * MINUTE, 2 * HOUR, 6 * HOUR, 12 * HOUR, 24 * HOUR, 24 * HOUR)


@dataclass(frozen=True)
class Schedules:
    """Seconds between runs of each job; `full_sync_at` is the UTC hour:minute of the nightly full sync."""

    sync_s: float = 15 * MINUTE
    full_sync_at: str = "02:30"
    expire_invitations_s: float = HOUR
    auto_retry_s: float = 5 * MINUTE
    notify_s: float = MINUTE
    digest_at: str = "07:00"
    reconcile_s: float = HOUR              # read the gradebooks back (only sections pushed to since)
    retention_at: str = "04:00"            # trim old sent attempts' messages (docs/backup.md)
    jobs_s: float = 5.0                    # how often queued dashboard jobs are looked for (lmsdata.jobqueue)


@dataclass(frozen=True)
class AlertThresholds:
    """The numbers the alert rules compare against, beyond those the health rules share (`Thresholds`)."""

    renotify_hours: float = 6.0             # an open alert is notified again at most this often
    cluster_districts: int = 3              # the same error in this many districts ...
    cluster_window_minutes: float = 60.0    # ... within this window is likely an outage
    worker_silent_minutes: float = 60.0     # no heartbeat for this long: the worker was silent
    history_window_hours: float = 24.0      # match drop / unmatched growth compare with the pulls this far back


@dataclass(frozen=True)
class Channel:
    """One notification URL (Apprise syntax) and the rules it receives ('*' for all, 'digest' for the digest).

    `at_least_once`: a send interrupted by a kill is sent again (for receivers that drop duplicates);
    by default it is marked `unknown` and not repeated (docs/worker.md, "Delivery").
    """

    url: str = field(repr=False)
    rules: frozenset[str] = frozenset({"*"})
    at_least_once: bool = False

    def receives(self, rule: str) -> bool:
        return "*" in self.rules or rule in self.rules

    @property
    def display(self) -> str:
        """Safe to show: the scheme and a masked host ('json://hoo…com'); no path, user, token or query."""
        scheme, _, rest = self.url.partition("://")
        host = rest.split("/", 1)[0].split("?", 1)[0].rsplit("@", 1)[-1]
        # A short "host" may be a token (slack://TokenA/...): then nothing of it is shown.
        shown = f"{host[:3]}…{host[-3:]}" if len(host) > 8 else "…"
        return f"{scheme}://{shown}"


@dataclass(frozen=True)
class WorkerConfig:
    schedules: Schedules = field(default_factory=Schedules)
    auto_retry: bool = True                 # transient failures retried on `backoff_s`
    auto_release: bool = True               # blocked pushes released when a sync shows the blocker fixed
    backoff_s: tuple[float, ...] = DEFAULT_BACKOFF_S
    health: Thresholds = field(default_factory=Thresholds)
    alerts: AlertThresholds = field(default_factory=AlertThresholds)
    district_overrides: Mapping[str, Thresholds] = field(default_factory=dict)
    channels: tuple[Channel, ...] = ()
    lease_s: float = 120.0                  # a worker that stops renewing loses the cache after this

    def thresholds_for(self, district_id: str) -> Thresholds:
        return self.district_overrides.get(district_id, self.health)


def load_worker_config(path: str | Path | None, *, base: Thresholds | None = None) -> WorkerConfig:
    """The settings in `path` (None: every default). Bad values end in one ConfigError naming the key."""
    health = base or Thresholds()
    if path is None:
        return WorkerConfig(health=health)
    try:
        raw = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"the worker configuration {path} cannot be read: {exc.strerror or exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"the worker configuration {path} is not valid TOML: {exc}") from exc
    return parse_worker_config(raw, health=health)


def parse_worker_config(raw: Mapping[str, Any], *, health: Thresholds | None = None) -> WorkerConfig:
    health = _replace(health or Thresholds(), raw.get("thresholds", {}), "thresholds")
    overrides = {
        str(did): _replace(health, values, f"districts.{did}") for did, values in raw.get("districts", {}).items()
    }
    channels = []
    for i, entry in enumerate(raw.get("channels", [])):
        url = str(entry.get("url", "")).strip() if isinstance(entry, Mapping) else ""
        if "://" not in url:
            raise ConfigError(f"channels[{i}].url must be an Apprise URL such as json://host/path or mailto://...")
        register_secret(url)
        channels.append(Channel(url, frozenset(entry.get("rules", ["*"])), bool(entry.get("at_least_once", False))))
    backoff = tuple(float(x) * MINUTE for x in raw["backoff_minutes"]) if "backoff_minutes" in raw \
        else DEFAULT_BACKOFF_S
    return WorkerConfig(
        schedules=_replace(Schedules(), raw.get("schedules", {}), "schedules"),
        auto_retry=bool(raw.get("auto_retry", True)),
        auto_release=bool(raw.get("auto_release", True)),
        backoff_s=backoff,
        health=health,
        alerts=_replace(AlertThresholds(), raw.get("alerts", {}), "alerts"),
        district_overrides=overrides,
        channels=tuple(channels),
        lease_s=float(raw.get("lease_s", 120.0)),
    )


def _replace(base: Any, values: Mapping[str, Any], section: str) -> Any:
    known = {f.name for f in dataclasses.fields(base)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ConfigError(f"[{section}] has unknown keys {unknown}; known: {sorted(known)}")
    try:
        return dataclasses.replace(base, **values)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"[{section}]: {exc}") from exc
