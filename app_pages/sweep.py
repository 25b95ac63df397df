"""Sweep: being built (issue 12)."""

import streamlit as st

from pipeline.app.state import sidebar

sidebar()
st.title("Sweep")
st.info("This page is being built.")
