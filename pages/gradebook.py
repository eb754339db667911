"""Gradebook: what the LMS holds for our pushes, teacher overrides, missing grades, suspected duplicates."""

from lmsdata.ui.frame import show
from lmsdata.ui.gradebook import page

show(page)
