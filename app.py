"""The experiment warehouse app.

    streamlit run app.py                       # opens data/warehouse.duckdb
    HPW_WAREHOUSE=other.duckdb streamlit run app.py

Run `python -m pipeline.demo restore` once first to get the demo warehouse.

The pages live in app_pages/, not pages/: Streamlit takes a `pages/` folder beside the main script for its
legacy file-based navigation, and until st.navigation had run once in the server process a shared link
(/trellis) opened that page alone with the file names (app, combinations, ...) in the sidebar.
"""

import streamlit as st

st.set_page_config(page_title="Hyperparameter warehouse", layout="wide")
# Sections, every page listed: with 13 pages a flat list folds the last ones under "View more".
st.navigation({
    "Networks": [
        st.Page("app_pages/overview.py", title="Overview", icon=":material/home:", default=True),
        st.Page("app_pages/distribution.py", title="Accuracy distribution", icon=":material/bar_chart:"),
        st.Page("app_pages/combinations.py", title="Parameter combinations", icon=":material/grid_on:"),
        st.Page("app_pages/trellis.py", title="Trellis", icon=":material/view_module:"),
    ],
    "Searches": [
        st.Page("app_pages/sweep.py", title="Sweep", icon=":material/stacked_line_chart:"),
        st.Page("app_pages/history.py", title="Exploration history", icon=":material/history:"),
        st.Page("app_pages/compare.py", title="Compare studies", icon=":material/compare_arrows:"),
    ],
    "Hyperparameters": [
        st.Page("app_pages/importance.py", title="Importance", icon=":material/leaderboard:"),
        st.Page("app_pages/parallel.py", title="Parallel coordinates", icon=":material/timeline:"),
        st.Page("app_pages/correlations.py", title="Correlations", icon=":material/blur_linear:"),
        st.Page("app_pages/embedding.py", title="Embedding", icon=":material/scatter_plot:"),
    ],
    "Data": [
        st.Page("app_pages/runs.py", title="Runs table", icon=":material/table:"),
        st.Page("app_pages/sql.py", title="SQL", icon=":material/terminal:"),
    ],
}, expanded=True).run()
