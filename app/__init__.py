"""LAKD Studio's Streamlit skin: shared helpers for the pages in ../pages/.

Start it with `streamlit run app/main.py`; every computation lives in `lakd/`."""
