"""Widgets and helpers shared between the dashboard's pages (Streamlit layer only)."""
