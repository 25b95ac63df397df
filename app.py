"""The experiment warehouse app.

    streamlit run app.py                       # opens data/warehouse.duckdb
    HPW_WAREHOUSE=other.duckdb streamlit run app.py

Run `python -m pipeline.demo restore` once first to get the demo warehouse.
"""

import streamlit as st

st.set_page_config(page_title="Hyperparameter warehouse", layout="wide")
st.navigation([
    st.Page("pages/overview.py", title="Overview", icon=":material/home:", default=True),
    st.Page("pages/distribution.py", title="Accuracy distribution", icon=":material/bar_chart:"),
    st.Page("pages/combinations.py", title="Parameter combinations", icon=":material/grid_on:"),
    st.Page("pages/trellis.py", title="Trellis", icon=":material/view_module:"),
    st.Page("pages/runs.py", title="Runs table", icon=":material/table:"),
    st.Page("pages/sql.py", title="SQL", icon=":material/terminal:"),
]).run()
