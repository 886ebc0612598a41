"""The ECR images a custom algorithm may use: listed through boto3's ECR client, filtered by the site's policy.

One short read-only call while a person waits on the wizard: the interactive client has short
timeouts, the listing stops at a bound, and an unreachable AWS becomes a clear message (the person
can still type an image URI, which the validator checks against the same policy).
"""

from __future__ import annotations

import hashlib
import logging
import time

from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError
from django.conf import settings
from django.core.cache import cache

from hpo_jobs import aws
from hpo_jobs.models import SiteSettings
from hpo_jobs.sagemaker import catalogue
from hpo_jobs.sagemaker import request as facts
from hpo_jobs.sagemaker.spec import _allowed_by  # the one definition of "within an allowed prefix", shared with the validator

log = logging.getLogger(__name__)

MAX_IMAGES = 500  # a picker longer than this helps nobody; the URI can still be typed
TIME_BUDGET_S = 15.0  # on top of each call's own timeout: the whole listing gives up after this
CACHE_S = 60  # the wizard renders the picker on every round trip; ECR is asked once a minute at most


class EcrUnavailable(Exception):
    """ECR could not be listed; the message is safe and useful to show next to the image field."""


def _cache_key(region: str, allowed: list[str]) -> str:
    digest = hashlib.sha256("\n".join([region, *allowed]).encode()).hexdigest()[:24]
    return f"hpo-portal:ecr-images:{digest}"


def clear_cache() -> None:
    """Forget cached listings (tests; and staff after changing the allowed registries see fresh lists anyway)."""
    site = SiteSettings.load()
    cache.delete(_cache_key(settings.AWS_REGION, site.ecr_allowed_list))


def list_images() -> list[str]:
    """Image URIs (``registry/repository:tag``) in the allowed registries and prefixes; [] when ECR access is off.

    Raises EcrUnavailable with a clear message when AWS cannot be reached or refuses.
    """
    site = SiteSettings.load()
    if not site.ecr_enabled or not site.ecr_allowed_list:
        return []
    region = settings.AWS_REGION
    key = _cache_key(region, site.ecr_allowed_list)
    cached = cache.get(key)
    if cached is not None:
        if isinstance(cached, str):
            raise EcrUnavailable(cached)
        return list(cached)
    try:
        images = _list(site.ecr_allowed_list, region)
    except EcrUnavailable as exc:
        cache.set(key, str(exc), CACHE_S // 2)
        raise
    cache.set(key, images, CACHE_S)
    return images


def _registries(allowed: list[str], region: str) -> list[str]:
    """The accounts whose registries in ``region`` the allowed entries name (others cannot run jobs here)."""
    accounts = []
    for entry in allowed:
        ref = catalogue.parse_image_uri(entry if "/" in entry else f"{entry}/x")
        if ref is not None and ref.region == region and ref.account not in accounts:
            accounts.append(ref.account)
    return accounts


def _list(allowed: list[str], region: str) -> list[str]:
    client = aws.client("ecr", interactive=True)
    deadline = time.monotonic() + TIME_BUDGET_S
    images: list[str] = []
    try:
        for account in _registries(allowed, region):
            repositories = client.get_paginator("describe_repositories").paginate(registryId=account)
            for page in repositories:
                for repository in page.get("repositories", []):
                    uri = repository["repositoryUri"]
                    # Ask only about repositories an allowed entry can cover.
                    if not _allowed_by(f"{uri}:", allowed) and not _allowed_by(f"{uri}/", allowed):
                        continue
                    pages = client.get_paginator("describe_images").paginate(
                        registryId=repository.get("registryId", account), repositoryName=repository["repositoryName"],
                    )
                    for image_page in pages:
                        for detail in image_page.get("imageDetails", []):
                            tags = detail.get("imageTags") or []
                            refs = [f"{uri}:{tag}" for tag in tags] or [f"{uri}@{detail['imageDigest']}"]
                            images.extend(ref for ref in refs if _allowed_by(ref, allowed))
                        if len(images) >= MAX_IMAGES or time.monotonic() > deadline:
                            return sorted(set(images))[:MAX_IMAGES]
    except NoCredentialsError:
        raise EcrUnavailable(
            "ECR images could not be listed: the portal has no AWS credentials. You can still type an image URI."
        ) from None
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "Error")
        message = exc.response.get("Error", {}).get("Message", "")
        log.warning("ECR listing failed: %s %s", code, message)
        if facts.error_kind(code) in ("access_denied", "credentials"):
            reason = "the portal's AWS identity may not list ECR repositories"
        elif code == "RepositoryNotFoundException":
            reason = "a repository disappeared while it was being listed; try again"
        else:
            reason = f"AWS answered {code}"
        raise EcrUnavailable(f"ECR images could not be listed: {reason}. You can still type an image URI.") from None
    except BotoCoreError as exc:
        log.warning("ECR listing failed: %s", exc)
        raise EcrUnavailable(
            f"ECR images could not be listed: AWS could not be reached ({type(exc).__name__}). "
            "You can still type an image URI."
        ) from None
    return sorted(set(images))[:MAX_IMAGES]
