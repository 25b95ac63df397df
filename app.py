"""The experiment warehouse app.

    streamlit run app.py                       # opens data/warehouse.duckdb
    HPW_WAREHOUSE=other.duckdb streamlit run app.py

Run `python -m pipeline.demo restore` once first to get the demo warehouse.
"""

import streamlit as st

st.set_page_config(page_title="Hyperparameter warehouse", layout="wide")
st.navigation([
    st.Page("pages/overview.py", title="Overview", icon=":material/home:", default=True),
]).run()
