"""The worker: the second service beside the dashboard. It keeps the cache fresh on schedules, retries
what time can fix, evaluates alert rules after each sync and delivers notifications (docs/worker.md)."""
