"""Which Bedrock models docpipe can use, and how each one is reached from each region.

One small table answers the question for settings validation, IAM and the preflight
alike: is this model ID offered from this source region, as an in-region foundation
model or only through a system-defined cross-Region inference profile (``jp.``,
``apac.``, ``global.``…), and is it a third-party model sold through AWS Marketplace
(whose first call needs a one-time subscription the function roles cannot make)?

The services send the configured ID unchanged as ``modelId``: a profile ID when the
model is reached through a profile, the foundation model ID when it is in-region.

Sources (AWS documentation, checked when this table was written; the preflight asks the
account itself with GetFoundationModel / GetInferenceProfile before a first deploy):

- model cards and their "Programmatic access" tables (model ID, geo and global
  inference IDs): https://docs.aws.amazon.com/bedrock/latest/userguide/model-cards.html,
  e.g. https://docs.aws.amazon.com/bedrock/latest/userguide/model-card-cohere-embed-v4.html
  (Cohere Embed v4: geo profiles ``us.``/``eu.`` and ``global.``; none for APAC or JP);
- regional availability: https://docs.aws.amazon.com/bedrock/latest/userguide/models-region-compatibility.html
  (Amazon Nova Micro/Lite/Pro v1 are offered from Tokyo through the ``apac.`` profiles
  only: an on-demand call with the bare ID answers "Invocation of model ID … with
  on-demand throughput isn't supported"; Nova 2 Lite through ``jp.`` and ``global.``;
  Cohere Embed v3 and Titan Text Embeddings V2 are in-region in ap-northeast-1);
- inference profiles: https://docs.aws.amazon.com/bedrock/latest/userguide/inference-profiles-support.html;
- Marketplace-backed models: https://docs.aws.amazon.com/bedrock/latest/userguide/model-access.html.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from docpipe.infra.exceptions import UnreachableModel

__all__ = [
    "CATALOG",
    "GEO_PREFIXES",
    "SUPPORTED_REGIONS",
    "CatalogEntry",
    "ModelRoute",
    "Purpose",
    "Reach",
    "resolve",
    "valid_model_ids",
]

Purpose = Literal["embedding", "answer"]

#: Prefixes of system-defined cross-Region inference profile IDs.
GEO_PREFIXES: frozenset[str] = frozenset({"us", "us-gov", "eu", "apac", "jp", "au", "ca", "global"})


@dataclass(frozen=True)
class Reach:
    """How a model is offered to callers in one source region."""

    in_region: bool
    profiles: frozenset[str] = frozenset()


@dataclass(frozen=True)
class CatalogEntry:
    foundation_model_id: str
    purpose: Purpose
    provider: str
    #: a third-party model sold through AWS Marketplace (first call subscribes the account)
    marketplace: bool
    reach: Mapping[str, Reach]


_TOKYO = "ap-northeast-1"

CATALOG: tuple[CatalogEntry, ...] = (
    CatalogEntry("cohere.embed-v4:0", "embedding", "Cohere", True,
                 {_TOKYO: Reach(in_region=False, profiles=frozenset({"global"}))}),
    CatalogEntry("cohere.embed-multilingual-v3", "embedding", "Cohere", True,
                 {_TOKYO: Reach(in_region=True)}),
    CatalogEntry("cohere.embed-english-v3", "embedding", "Cohere", True,
                 {_TOKYO: Reach(in_region=True)}),
    CatalogEntry("amazon.titan-embed-text-v2:0", "embedding", "Amazon", False,
                 {_TOKYO: Reach(in_region=True)}),
    CatalogEntry("amazon.nova-pro-v1:0", "answer", "Amazon", False,
                 {_TOKYO: Reach(in_region=False, profiles=frozenset({"apac"}))}),
    CatalogEntry("amazon.nova-lite-v1:0", "answer", "Amazon", False,
                 {_TOKYO: Reach(in_region=False, profiles=frozenset({"apac"}))}),
    CatalogEntry("amazon.nova-micro-v1:0", "answer", "Amazon", False,
                 {_TOKYO: Reach(in_region=False, profiles=frozenset({"apac"}))}),
    CatalogEntry("amazon.nova-2-lite-v1:0", "answer", "Amazon", False,
                 {_TOKYO: Reach(in_region=False, profiles=frozenset({"jp", "global"}))}),
)  # fmt: skip

SUPPORTED_REGIONS: tuple[str, ...] = tuple(sorted({r for e in CATALOG for r in e.reach}))


@dataclass(frozen=True)
class ModelRoute:
    """How one configured model ID is invoked from one region."""

    #: exactly what the services send as ``modelId``
    model_id: str
    foundation_model_id: str
    #: ``None`` for an in-region foundation model, else the profile's prefix
    profile_prefix: str | None
    region: str
    provider: str
    marketplace: bool

    @property
    def via_profile(self) -> bool:
        return self.profile_prefix is not None

    def profile_arn(self, *, account_id: str) -> str:
        if self.profile_prefix is None:
            raise ValueError(f"{self.model_id} is not an inference profile")
        return f"arn:aws:bedrock:{self.region}:{account_id}:inference-profile/{self.model_id}"

    def in_region_arn(self) -> str:
        return f"arn:aws:bedrock:{self.region}::foundation-model/{self.foundation_model_id}"


def _split(model_id: str) -> tuple[str | None, str]:
    prefix, _, rest = model_id.partition(".")
    if prefix in GEO_PREFIXES and rest:
        return prefix, rest
    return None, model_id


def valid_model_ids(*, region: str, purpose: Purpose) -> list[str]:
    """Every model ID (foundation or profile) that works from ``region`` for ``purpose``."""
    ids: list[str] = []
    for entry in CATALOG:
        reach = entry.reach.get(region)
        if entry.purpose != purpose or reach is None:
            continue
        if reach.in_region:
            ids.append(entry.foundation_model_id)
        ids += [f"{p}.{entry.foundation_model_id}" for p in sorted(reach.profiles)]
    return ids


def resolve(model_id: str, *, region: str, purpose: Purpose) -> ModelRoute:
    """The route for ``model_id`` from ``region``, or :class:`UnreachableModel`."""
    if region not in SUPPORTED_REGIONS:
        raise UnreachableModel(
            f"docpipe's model catalog covers {', '.join(SUPPORTED_REGIONS)}, not {region}: "
            "add the region's entries to docpipe.infra.model_catalog.CATALOG"
        )
    prefix, foundation = _split(model_id)
    entry = next(
        (e for e in CATALOG if e.foundation_model_id == foundation and e.purpose == purpose),
        None,
    )
    reach = entry.reach.get(region) if entry else None
    reachable = reach is not None and (
        reach.in_region if prefix is None else prefix in reach.profiles
    )
    if entry is None or not reachable:
        choices = ", ".join(valid_model_ids(region=region, purpose=purpose)) or "none"
        problem = (
            f"is not a supported {purpose} model"
            if entry is None
            else f"is not offered from {region} in that form"
        )
        raise UnreachableModel(f"{model_id!r} {problem}; valid choices from {region}: {choices}")
    return ModelRoute(
        model_id=model_id,
        foundation_model_id=foundation,
        profile_prefix=prefix,
        region=region,
        provider=entry.provider,
        marketplace=entry.marketplace,
    )
