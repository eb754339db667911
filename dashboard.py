"""LMS Connect Health: the Streamlit entry point. Run it with `streamlit run dashboard.py`.

It only draws the frame and runs the page the URL asks for; every page in `pages/` calls the same
frame (`lmsdata.ui.frame`), so a deep link on a fresh server looks exactly like navigation from `/`.
"""

from lmsdata.ui.frame import run_app

run_app()
