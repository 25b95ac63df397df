"""Embedding: being built (issue 12)."""

import streamlit as st

from pipeline.app.state import sidebar

sidebar()
st.title("Embedding")
st.info("This page is being built.")
