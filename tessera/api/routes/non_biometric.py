"""Registering people without biometrics, in galleries that allow it, serving them, and their withdrawal (issue 17,
item 4)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path
from pydantic import BaseModel, ConfigDict, Field, StrictBool

from tessera.api.deps import GALLERY, GLOBAL, InstanceDep, require
from tessera.governance.roles import Permission
from tessera.workflows import non_biometric
from tessera.workflows.instance import Actor

router = APIRouter(prefix="/v1", tags=["non-biometric"])

GalleryManager = Annotated[Actor, Depends(require(Permission.MANAGE_GALLERIES))]
Enroller = Annotated[Actor, Depends(require(Permission.ENROL))]
Server = Annotated[Actor, Depends(require(Permission.VERIFY))]
Eraser = Annotated[Actor, Depends(require(Permission.ERASE))]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AllowIn(Strict):
    allowed: StrictBool = Field(
        description="true: people may be registered without biometrics here; false: no new registration, while "
        "the people already registered without biometrics are still served (until the gallery's retention erases "
        "their records)."
    )


class RegisterIn(Strict):
    gallery_id: str = Field(min_length=1, max_length=36)
    programme_id: str = Field(min_length=1, max_length=100, description="The programme's own id or card number.")
    reason: Literal["declined", "cannot_be_captured", "other"] = Field(
        description="As the person or worker chose it; never inferred."
    )


class ServeIn(Strict):
    gallery_id: str = Field(min_length=1, max_length=36)
    programme_id: str = Field(min_length=1, max_length=100)
    record_id: str | None = Field(None, max_length=36, description="The record's number, when the person has it.")


class WithdrawalOut(BaseModel):
    record_id: str
    reason: Literal["withdrawn", "retention_period_ended", "purpose_met", "consent_expired"] = Field(
        description="Why the record was erased: `withdrawn` by this call (or an earlier one); the gallery's retention "
        "(`retention_period_ended`, `consent_expired`) or its closing (`purpose_met`) when it had erased the record "
        "before the person asked."
    )
    gallery_id: str
    erased_at: str
    fields_erased: list[str] = Field(description="The record's fields erased, by name: their values are gone.")
    audit_seq: int
    receipt_sha256: str = Field(description="Proves the erasure in the audit trail (its entry holds this hash).")


@router.put(
    "/galleries/{gallery_id}/non-biometric",
    summary="Allow (or stop) registering people without biometrics in a gallery (audited)",
    description="Governs new registrations only. Stopping it never stops serving the people already registered "
    "without biometrics: they declined biometrics (or could not be captured) under the setting of the day, and "
    "service that later depended on giving biometrics would make their consent not freely given (GDPR Art. 7(4)). "
    "Their records are kept, served and erased on the gallery's retention as before.",
    openapi_extra=GLOBAL,
)
def put_allow(gallery_id: str, body: AllowIn, instance: InstanceDep, actor: GalleryManager):
    return non_biometric.set_allowed(instance, actor, gallery_id, body.allowed)


@router.post(
    "/non-biometric",
    status_code=201,
    summary="Register a person without biometrics (no template, never searched)",
    openapi_extra=GALLERY,
)
def post_register(body: RegisterIn, instance: InstanceDep, actor: Enroller):
    return non_biometric.register(instance, actor, body.gallery_id, body.programme_id, body.reason)


@router.post(
    "/non-biometric/service",
    summary="Find a person registered without biometrics by programme id, and record that they were served",
    description="Served whether or not the gallery still allows new registrations without biometrics.",
    openapi_extra=GALLERY,
)
def post_serve(body: ServeIn, instance: InstanceDep, actor: Server):
    return non_biometric.serve(instance, actor, body.gallery_id, body.programme_id, body.record_id)


@router.delete(
    "/non-biometric/{record_id}",
    response_model=WithdrawalOut,
    summary="The person withdraws: erase their record without biometrics (audited, with a receipt)",
    description="Erased before the answer is sent, from the database's files too, as a subject's withdrawal "
    "(GDPR Art. 7(3), 17). A retry answers the same receipt, and a record the gallery's retention erased first "
    "answers that erasure's receipt, with its reason. Serving the record's number afterwards answers 404 "
    "`record_erased` (`detail.reason`); its programme id is no longer known (`record_not_found`) and may be "
    "registered again.",
    openapi_extra=GALLERY,
)
def delete_record(
    record_id: Annotated[str, Path(min_length=1, max_length=36, description="The record's number.")],
    instance: InstanceDep,
    actor: Eraser,
):
    return non_biometric.withdraw(instance, actor, record_id).as_dict()
