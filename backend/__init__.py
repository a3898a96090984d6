"""Backend of the MLOps-on-AWS lab dashboard: pure Python over boto3, no Streamlit."""
