"""Exercise 4: the FastAPI /predict app in Docker on an EC2 instance.

The app (ec2_app/ plus the course's model.onnx) goes up as a tar.gz to the student's private bundle
bucket; the instance's user data installs Docker, fetches the bundle through a presigned URL, builds
the image and runs it on port 8000. In the sandbox the same user data makes the sandbox run the app
as a local process (backend/sandbox/ec2_compute.py).
"""
from __future__ import annotations

from ...i18n import N_
from ...lab import Exercise
from . import checks, state, steps, teardown
from .api_client import ApiCall
from .bundle import APP_PORT, BUNDLE_KEY, SSH_PORT, user_data
from .instance import (call_predict, health, instance_console, instance_endpoint, lab_instance, predict,
                       price_note, price_per_hour, start_lab_instance, stop_lab_instance, terminate_lab_instance,
                       wait_for_health)
from .snippets import manual_commands
from .state import DEFAULT_INSTANCE_TYPE, INSTANCE_TYPES, OPTIONS, UBUNTU_PARAMETER, State, key_file, lab_instances, observe

INTRO = N_("""\
The prediction API (FastAPI, the ONNX model, in a Docker image) runs on an EC2 instance and answers
`POST /predict` on port 8000. You create a key pair (for SSH), a security group that lets only you
in, upload the app as a bundle, and launch an Ubuntu 24.04 instance whose start-up script installs
Docker, builds the image and runs it. Then you send it the sample record. An instance bills by the
hour while it runs: stop or terminate it when you are done.""")

EXERCISE: Exercise[State] = Exercise(
    number=4, title=N_("FastAPI /predict on EC2"), intro=INTRO, observe=observe,
    steps=steps.STEPS, checks=checks.CHECKS, options=OPTIONS, teardown=teardown.plan,
    on_deleted=teardown.on_deleted)

__all__ = ["APP_PORT", "BUNDLE_KEY", "DEFAULT_INSTANCE_TYPE", "EXERCISE", "INSTANCE_TYPES", "SSH_PORT",
           "UBUNTU_PARAMETER", "ApiCall", "call_predict", "health", "instance_console", "instance_endpoint",
           "key_file", "lab_instance", "lab_instances", "manual_commands", "predict", "price_note", "price_per_hour",
           "start_lab_instance", "state", "stop_lab_instance", "terminate_lab_instance", "user_data",
           "wait_for_health"]
