"""A gallery's score disclosure: what verification and search answers say about scores (audited changes)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field

from tessera.api.deps import GLOBAL, InstanceDep, require
from tessera.governance.roles import Permission
from tessera.workflows.instance import Actor
from tessera.workflows.score_disclosure import set_score_disclosure

router = APIRouter(prefix="/v1/galleries", tags=["governance"])

GalleryManager = Annotated[Actor, Depends(require(Permission.MANAGE_GALLERIES))]


class ScoreDisclosureIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    score_disclosure: Literal["banded", "exact"] = Field(
        description="banded: a decision and a false-match-rate band (the default); exact: scores as computed, for "
        "galleries that serve an evaluation."
    )
    reason: str = Field(min_length=1, max_length=500, description="Why it changes (recorded in the audit log).")


@router.put(
    "/{gallery_id}/score-disclosure",
    summary="Choose whether the gallery's answers give scores or FMR bands (audited)",
    openapi_extra=GLOBAL,
)
def put_score_disclosure(gallery_id: str, body: ScoreDisclosureIn, instance: InstanceDep, actor: GalleryManager):
    chosen = set_score_disclosure(instance, actor, gallery_id, body.score_disclosure, body.reason)
    return {"gallery_id": gallery_id, "score_disclosure": chosen.value}
