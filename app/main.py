"""LAKD Studio: `streamlit run app/main.py`.

The frame of the app: language picker, navigation and the pages in ../pages/.
Each page is a short script; shared helpers are in app/common.py, every text in
app/i18n.py, and every computation in the `lakd` engine.
"""
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # `streamlit run app/main.py` puts only app/ on the path
    sys.path.insert(0, str(ROOT))

import streamlit as st  # noqa: E402

from app.common import PAGES, runs_dir  # noqa: E402
from app.i18n import language_selector, t  # noqa: E402

st.set_page_config(page_title="LAKD Studio", page_icon=":material/school:", layout="wide")

language_selector()
pages = {slug: st.Page(str(ROOT / "pages" / f"{slug}.py"), title=t(f"nav_{slug}"), icon=icon, url_path=slug,
                       default=slug == "home")
         for slug, icon in PAGES}
st.session_state["_pages"] = pages
navigation = st.navigation(list(pages.values()))
with st.sidebar:
    st.caption(t("sidebar_runs_dir", path=str(runs_dir())))
navigation.run()
