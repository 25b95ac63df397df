"""Statistics over aggregates the warehouse returned: plain Python on polars frames, no Streamlit."""
