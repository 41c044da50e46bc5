from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, File, Form, UploadFile
from fastapi.responses import JSONResponse

from tessera.api.deps import GALLERY, IdempotencyKey, InstanceDep, SubjectId, read_upload, require
from tessera.api.routes.liveness import LivenessToken
from tessera.api.routes.matching import HAND_DESCRIPTION, LANDMARKS_DESCRIPTION, MAX_LANDMARKS_CHARS, read_landmarks
from tessera.api.schemas import EnrolmentOut, ErasureReceiptOut, HandEnrolmentOut, SubjectCreated, SubjectIn
from tessera.governance.roles import Permission
from tessera.governance.vocabulary import Modality
from tessera.workflows.captures import Capture
from tessera.workflows.enrolment import consented_enrolment, enrol
from tessera.workflows.hands import HandCapture, enrol_hand
from tessera.workflows.idempotency import Idempotency, replay
from tessera.workflows.instance import Actor
from tessera.workflows.liveness import photo_liveness
from tessera.workflows.replacement import check_replaceable
from tessera.workflows.subjects import create_subject, erase_subject

router = APIRouter(prefix="/v1/subjects", tags=["subjects"])

Enroller = Annotated[Actor, Depends(require(Permission.ENROL))]


@router.post(
    "",
    status_code=201,
    response_model=SubjectCreated,
    summary="Create a subject with its signed consent",
    openapi_extra=GALLERY,
)
def post_subject(body: SubjectIn, instance: InstanceDep, actor: Enroller, idempotency_key: IdempotencyKey = None):
    idempotency = Idempotency.for_request(actor.id, idempotency_key, b"subject", body.model_dump_json().encode())
    if (stored := replay(instance, idempotency)) is not None:
        return JSONResponse(status_code=stored[0], content=stored[1])
    return create_subject(instance, actor, body.gallery_id, body.consent, idempotency, body.external_id).as_dict()


@router.post(
    "/{subject_id}/faces",
    status_code=201,
    response_model=EnrolmentOut,
    summary="Enrol a face capture",
    openapi_extra=GALLERY,
    description="One photo of the person's face. Answers the default algorithm's `template_id` and the capture's "
    "`quality`; a usable but poor photo is kept with `quality.retake_advised`. With `replaces` (the `template_id` an "
    "earlier face enrolment of this subject answered), the new photo takes that capture's place: in the same "
    "transaction its templates (one per algorithm) are erased from the store and leave every index, as an erasure's "
    "do, audited as `template.replaced`; the answer lists them in `replaced`. A `replaces` naming no template of "
    "this subject: 404 `template_not_found`; a finger template: 422 `template_not_a_face`; both before the photo is "
    "read. A photo refused (422, quality or liveness) or already enrolled (409 `duplicate_capture`) replaces nothing.",
)
def post_face(
    actor: Enroller,
    subject_id: SubjectId,
    instance: InstanceDep,
    image: Annotated[UploadFile, File(description="JPEG, PNG or WebP photo of the face")],
    replaces: Annotated[
        str | None,
        Form(
            max_length=64,
            description="Optional: the template id of this subject's earlier face capture that the new photo "
            "replaces (erased with the capture's other templates once the new one is enrolled).",
        ),
    ] = None,
    liveness_token: LivenessToken = None,
    idempotency_key: IdempotencyKey = None,
):
    data = read_upload(instance, image)
    replaces = replaces or None
    replacing = () if replaces is None else (b"replaces", replaces.encode())  # a plain enrolment hashes as before
    idempotency = Idempotency.for_request(actor.id, idempotency_key, b"face", subject_id.encode(), *replacing, data)
    if (stored := replay(instance, idempotency)) is not None:
        return JSONResponse(status_code=stored[0], content=stored[1])
    gallery_id = consented_enrolment(instance, actor, subject_id, Modality.FACE)  # before the photo is read
    if replaces is not None:  # before the photo is read, and before a liveness token is spent
        check_replaceable(instance, actor, subject_id, gallery_id, replaces)
    face = Capture.face(data)  # decoded once, by the liveness score; the enrolment reads the same pixels
    liveness = photo_liveness(instance, actor, gallery_id, "enrol", face, liveness_token)
    enrolment = enrol(instance, actor, subject_id, face, idempotency, replaces)
    answer = enrolment.answer | ({"liveness": liveness.as_dict()} if liveness else {})
    return JSONResponse(status_code=enrolment.status_code, content=answer)


@router.post(
    "/{subject_id}/fingers",
    status_code=201,
    response_model=EnrolmentOut,
    summary="Enrol a finger capture",
    openapi_extra=GALLERY,
    description="One finger per request: a phone photo of the fingertip (`capture=contactless`) or a scan or ink print "
    "(`capture=contact`, 500 ppi). Needs the subject's consent to the `finger` modality. In a gallery whose liveness "
    "policy is `unsupervised` it is refused (422 `liveness_unavailable_for_fingers`: no liveness check exists for "
    "fingers). An unusable capture is refused "
    "with 422 and its reason (`not_a_finger`, `move_closer`, `finger_out_of_focus`, `too_few_minutiae`, ...).",
)
def post_finger(
    actor: Enroller,
    subject_id: SubjectId,
    instance: InstanceDep,
    image: Annotated[UploadFile, File(description="JPEG, PNG or WebP photo or scan of one finger")],
    finger_position: Annotated[
        int,
        Form(
            description="ISO/IEC 19794-2 finger position: 1 right thumb ... 5 right little, 6 left thumb ... 10 "
            "left little; any other number is refused with 422 invalid_finger_position.",
        ),
    ],
    capture: Annotated[
        Literal["contactless", "contact"], Form(description="contactless (phone photo) or contact (scanner, ink)")
    ],
    idempotency_key: IdempotencyKey = None,
):
    data = read_upload(instance, image)
    idempotency = Idempotency.for_request(
        actor.id, idempotency_key, b"finger", subject_id.encode(), str(finger_position).encode(), capture.encode(), data
    )
    if (stored := replay(instance, idempotency)) is not None:
        return JSONResponse(status_code=stored[0], content=stored[1])
    gallery_id = consented_enrolment(instance, actor, subject_id, Modality.FINGER)
    photo_liveness(instance, actor, gallery_id, "enrol", None, None)  # unsupervised: liveness_unavailable_for_fingers
    enrolment = enrol(instance, actor, subject_id, Capture.finger(data, finger_position, capture), idempotency)
    return JSONResponse(status_code=enrolment.status_code, content=enrolment.answer)


@router.post(
    "/{subject_id}/hands",
    status_code=201,
    response_model=HandEnrolmentOut,
    summary="Enrol four fingers from one photo of a hand (a slap)",
    openapi_extra=GALLERY,
    description="One photo of the palm side of one hand, fingers flat and apart, with the hand's 21 landmarks "
    "(MediaPipe Hands, normalised to the photo as sent) and which hand it is. The index, middle, ring and little "
    "fingertips are cut out along their axes and each enrolled as a contactless finger (positions from the hand: "
    "right 2-5, left 7-10); the thumb is enrolled on its own with `POST /v1/subjects/{subject_id}/fingers`. The "
    "answer lists each finger: `enrolled` with its template, or `refused` with its reason (`finger_outside_image`, "
    "`finger_not_flat`, `fingers_together`, or the finger pipeline's: `not_a_finger`, `move_closer`, ...). With no "
    "usable finger: 422 `no_usable_finger` (each finger's reason in `detail.fingers`); landmarks that are no hand "
    "held flat: 422 `not_a_hand`; landmarks of the other hand (a mirrored preview): 422 `handedness_mismatch`; "
    "unreadable landmarks: 422 `invalid_landmarks`. Needs the subject's consent to the `finger` modality.",
)
def post_hand(
    actor: Enroller,
    subject_id: SubjectId,
    instance: InstanceDep,
    image: Annotated[UploadFile, File(description="JPEG, PNG or WebP photo of the palm side of four fingers")],
    landmarks: Annotated[str, Form(max_length=MAX_LANDMARKS_CHARS, description=LANDMARKS_DESCRIPTION)],
    hand: Annotated[Literal["left", "right"], Form(description=HAND_DESCRIPTION)],
    idempotency_key: IdempotencyKey = None,
):
    data = read_upload(instance, image)
    points = read_landmarks(landmarks)
    idempotency = Idempotency.for_request(
        actor.id, idempotency_key, b"hand", subject_id.encode(), hand.encode(), points.tobytes(), data
    )
    if (stored := replay(instance, idempotency)) is not None:
        return JSONResponse(status_code=stored[0], content=stored[1])
    gallery_id = consented_enrolment(instance, actor, subject_id, Modality.FINGER)  # before the photo is read
    photo_liveness(instance, actor, gallery_id, "enrol", None, None)  # unsupervised: liveness_unavailable_for_fingers
    enrolment = enrol_hand(instance, actor, subject_id, HandCapture(data, points, hand), idempotency)
    return JSONResponse(status_code=enrolment.status_code, content=enrolment.answer)


@router.delete(
    "/{subject_id}",
    response_model=ErasureReceiptOut,
    summary="Withdraw consent: erase the subject",
    openapi_extra=GALLERY,
)
def delete_subject(
    actor: Annotated[Actor, Depends(require(Permission.ERASE))], subject_id: SubjectId, instance: InstanceDep
):
    return erase_subject(instance, actor, subject_id).as_dict()
