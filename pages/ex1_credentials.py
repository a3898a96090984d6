"""Exercise 1: credentials."""
import streamlit as st

from backend.exercises import get_exercise
from backend.i18n import _
from pages import ui


def how_to_configure(ctx):
    st.subheader(_("Configuring credentials yourself"))
    if ctx.aws.target.is_sandbox:
        st.markdown(_("The sandbox answers only requests signed with its own key, made for this installation "
                      "(a web page or another user of this machine cannot use it). This line points the AWS CLI "
                      "and your own scripts at it:"))
        st.code(ctx.aws.shell_exports() + "\naws sts get-caller-identity", language="bash")
    else:
        # The commands stay as they are; their comments follow the language.
        configure = _("access key, secret key, region {region}, output json").format(region=ctx.region)
        refused = _("refused in AWS Academy learner labs")
        st.code(f"aws configure            # {configure}\n"
                f"aws sts get-caller-identity\naws iam get-user         # {refused}",
                language="bash")


ui.exercise_page(get_exercise(1), extra=how_to_configure)
