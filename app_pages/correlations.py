"""Correlations: being built (issue 12)."""

import streamlit as st

from pipeline.app.state import sidebar

sidebar()
st.title("Correlations")
st.info("This page is being built.")
