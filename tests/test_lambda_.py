"""backend.lambda_: a layer version is published only when its content differs, even under a race."""
from __future__ import annotations

import threading

import pytest

from backend import lambda_

LAYER = "lab-layer"
ZIP = lambda_.zip_files({"python/helper.py": b"ANSWER = 42\n"})


def versions(aws) -> list[int]:
    return sorted(v["Version"] for v in aws.client("lambda").list_layer_versions(LayerName=LAYER)["LayerVersions"])


def test_a_second_run_publishes_nothing(moto_aws):
    first = lambda_.ensure_layer(moto_aws, LAYER, ZIP, "python3.12", description="d")
    second = lambda_.ensure_layer(moto_aws, LAYER, ZIP, "python3.12", description="d")
    assert first.created and not second.created
    assert second.version_arn == first.version_arn and versions(moto_aws) == [first.version]


def test_new_content_is_a_new_version(moto_aws):
    first = lambda_.ensure_layer(moto_aws, LAYER, ZIP, "python3.12")
    changed = lambda_.ensure_layer(moto_aws, LAYER, lambda_.zip_files({"python/helper.py": b"ANSWER = 43\n"}),
                                   "python3.12")
    assert changed.created and changed.version == first.version + 1


def test_runs_in_two_threads_at_once_publish_one_version(moto_aws):
    results = []
    barrier = threading.Barrier(2)

    def run() -> None:
        barrier.wait()
        results.append(lambda_.ensure_layer(moto_aws, LAYER, ZIP, "python3.12"))

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(r.created for r in results) == [False, True]
    assert len({r.version_arn for r in results}) == 1 and len(versions(moto_aws)) == 1


@pytest.mark.parametrize("other_description, kept", [("", 1), ("another build", 2)])
def test_a_run_that_lost_the_race_to_another_process_deletes_its_duplicate(moto_aws, monkeypatch,
                                                                           other_description, kept):
    """Another process published the same zip after this run looked and before it published."""
    lam = moto_aws.client("lambda")
    real_latest = lambda_.latest_layer_version

    def looked_before_the_other_published(aws, name):
        newest = real_latest(aws, name)
        lam.publish_layer_version(LayerName=LAYER, Description=other_description, Content={"ZipFile": ZIP},
                                  CompatibleRuntimes=["python3.12"])
        return newest

    monkeypatch.setattr(lambda_, "latest_layer_version", looked_before_the_other_published)
    result = lambda_.ensure_layer(moto_aws, LAYER, ZIP, "python3.12")
    if kept == 1:  # the other version is the same: ours (version 2) goes, theirs is used
        assert (result.created, result.version) == (False, 1) and versions(moto_aws) == [1]
    else:  # the other one differs (its description): ours is no duplicate and stays
        assert (result.created, result.version) == (True, 2) and versions(moto_aws) == [1, 2]
