"""Aisle's merchant dashboard (Streamlit): `streamlit run dashboard/app.py`."""
