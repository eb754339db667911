"""Grade passback: the push log, the failure taxonomy, safe retries, JSONL import and demo traffic."""

from lmsdata.pushes.demo import DemoTraffic, generate_demo_traffic
from lmsdata.pushes.importer import ImportReport, import_jsonl
from lmsdata.pushes.log import list_pushes
from lmsdata.pushes.pusher import GradePusher, PushRefused
from lmsdata.pushes.retry import RetryItem, RetryOptions, RetryProgress, RetryReport, retry_pushes
from lmsdata.pushes.sender import PushOutcome, SendPolicy
from lmsdata.pushes.taxonomy import Category, Situation, classify

__all__ = [
    "Category",
    "DemoTraffic",
    "GradePusher",
    "ImportReport",
    "PushOutcome",
    "PushRefused",
    "RetryItem",
    "RetryOptions",
    "RetryProgress",
    "RetryReport",
    "SendPolicy",
    "Situation",
    "classify",
    "generate_demo_traffic",
    "import_jsonl",
    "list_pushes",
    "retry_pushes",
]
