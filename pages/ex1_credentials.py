"""Exercise 1: credentials."""
import streamlit as st

from backend.exercises import get_exercise
from pages import ui


def how_to_configure(ctx):
    st.subheader("Configuring credentials yourself")
    if ctx.aws.target.is_sandbox:
        st.markdown("In the sandbox any credentials work; these make the AWS CLI and your own scripts reach it:")
        st.code("export AWS_ENDPOINT_URL=" + (ctx.aws.target.endpoint_url or "") +
                "\nexport AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_DEFAULT_REGION=" + ctx.region +
                "\naws sts get-caller-identity", language="bash")
    else:
        st.code(f"aws configure            # access key, secret key, region {ctx.region}, output json\n"
                "aws sts get-caller-identity\naws iam get-user         # refused in AWS Academy learner labs",
                language="bash")


ui.exercise_page(get_exercise(1), extra=how_to_configure)
