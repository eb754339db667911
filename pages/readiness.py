"""Term readiness: which districts' new-term sections are not ready for grade passback."""

from lmsdata.ui.frame import show
from lmsdata.ui.readiness import render

show(render)
