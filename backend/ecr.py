"""ECR: the repository of MLflow's serving image and the images in it, get-or-create."""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from .aws import Aws
from .errors import is_not_found
from .names import tag_list

# What `docker push` uploads last: an image manifest (Docker's schema 2).
MANIFEST_MEDIA_TYPE = "application/vnd.docker.distribution.manifest.v2+json"


@dataclass(frozen=True)
class RepositoryResult:
    name: str
    uri: str
    arn: str
    created: bool


def get_repository(aws: Aws, name: str) -> dict[str, Any] | None:
    """Return a repository's description, or None if there is none."""
    try:
        return aws.client("ecr").describe_repositories(repositoryNames=[name])["repositories"][0]
    except ClientError as err:
        if is_not_found(err):
            return None
        raise


def ensure_repository(aws: Aws, name: str, tags: dict[str, str] | None = None) -> RepositoryResult:
    """Get or create a repository (tagged when created); a concurrent create counts as found."""
    repo = get_repository(aws, name)
    if repo is not None:
        return RepositoryResult(name, repo["repositoryUri"], repo["repositoryArn"], False)
    kwargs: dict[str, Any] = {"repositoryName": name}
    if tags:
        kwargs["tags"] = tag_list(tags)
    try:
        repo = aws.client("ecr").create_repository(**kwargs)["repository"]
    except ClientError as err:
        if "RepositoryAlreadyExists" not in str(err):
            raise
        repo = get_repository(aws, name)
        return RepositoryResult(name, repo["repositoryUri"], repo["repositoryArn"], False)
    return RepositoryResult(name, repo["repositoryUri"], repo["repositoryArn"], True)


def get_image(aws: Aws, repository: str, tag: str) -> dict[str, Any] | None:
    """Return the image detail of repository:tag, or None if the repository or the tag is missing."""
    try:
        details = aws.client("ecr").describe_images(repositoryName=repository,
                                                    imageIds=[{"imageTag": tag}])["imageDetails"]
    except ClientError as err:
        if is_not_found(err):
            return None
        raise
    return details[0] if details else None


def list_image_tags(aws: Aws, repository: str) -> list[str]:
    """Return every tag in a repository ([] if it does not exist)."""
    paginator = aws.client("ecr").get_paginator("list_images")
    try:
        return sorted(i["imageTag"] for page in paginator.paginate(repositoryName=repository)
                      for i in page["imageIds"] if "imageTag" in i)
    except ClientError as err:
        if is_not_found(err):
            return []
        raise


def placeholder_manifest(name: str) -> str:
    """Return a schema-2 image manifest naming a config blob derived from `name` (no layers).

    The sandbox has no Docker: recording this manifest with PutImage is the last call of a real
    `docker push`, so the repository then lists the image exactly as after a push.
    """
    config = hashlib.sha256(f"mlops-lab sandbox image {name}".encode()).hexdigest()
    return json.dumps({"schemaVersion": 2, "mediaType": MANIFEST_MEDIA_TYPE,
                       "config": {"mediaType": "application/vnd.docker.container.image.v1+json",
                                  "size": 0, "digest": f"sha256:{config}"},
                       "layers": []}, sort_keys=True)


def record_push(aws: Aws, repository: str, tag: str) -> str:
    """Record an image push (PutImage with a placeholder manifest); return the image digest."""
    result = aws.client("ecr").put_image(repositoryName=repository, imageTag=tag,
                                         imageManifest=placeholder_manifest(f"{repository}:{tag}"),
                                         imageManifestMediaType=MANIFEST_MEDIA_TYPE)
    return result["image"]["imageId"]["imageDigest"]


def delete_repository(aws: Aws, name: str) -> bool:
    """Delete a repository and its images; False if there was none."""
    try:
        aws.client("ecr").delete_repository(repositoryName=name, force=True)
    except ClientError as err:
        if is_not_found(err):
            return False
        raise
    return True
