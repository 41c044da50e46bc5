"""Break each governance rule on purpose and check that the test docs/governance.md names for it fails.

Run ``python -m tests.governance.mutations`` (about fifteen minutes for 71 on two
cores): each :class:`Mutation` is applied to a copy of the repository in a
temporary folder (the working tree is never touched), the named tests run
there without evaluation data, and the mutation must make them fail. The
``mutation:`` notes of docs/governance.md are these mutations;
tests/governance/test_docs.py checks that every ``mutation:`` note names one
listed here. Tests that switch their rule off themselves (``monkeypatch``)
need no entry.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Mutation:
    """One rule broken in one file, and the tests that must then fail."""

    name: str
    """The id a ``mutation:`` note of docs/governance.md cites."""
    what: str
    path: str
    find: str
    replace: str
    tests: tuple[str, ...]
    every: bool = False
    """Replace every occurrence of ``find`` (else the first)."""


EVIDENCE_SEALING = (
    "        return seal(self._subject_keys.get(subject_id), image, evidence_associated_data(subject_id))\n"
    "\n"
    "    def open_consent_evidence(self, *, subject_id: str, sealed: bytes) -> bytes:\n"
    '        """The image sealed by :meth:`seal_consent_evidence`; raises :class:`SealedDataUnreadable`."""\n'
    "        return open_sealed(self._subject_keys.get(subject_id), sealed, evidence_associated_data(subject_id))\n"
)
"""How tessera/store/vault.py seals and opens a consent's evidence image (M45 seals both under another key)."""

GALLERY_POPULATION = (
    "        by_kinds = count_searchable_by_kinds(\n"
    "            session, gallery_id=request.gallery_id, kinds=kinds, purpose=request.purpose, now=now\n"
    "        )\n"
)
"""Where tessera/workflows/search.py has the store count a search's N (M47 adds records to it)."""

ERASED_NOTICE_TEST = (
    "tests/governance/test_duplicate_notice.py::"
    "test_a_confirmed_duplicate_makes_a_notice_for_the_erased_registration_naming_no_one_else"
)
ERASED_CONTEST_TEST = (
    "tests/governance/test_duplicate_notice.py::"
    "test_contesting_the_erasure_is_re_reviewed_by_others_and_the_overturned_finding_is_told_under_the_reference"
)
"""The tests of the erased registration's notice and of its contest (M80-M86)."""

MUTATIONS: tuple[Mutation, ...] = (
    Mutation(
        "M1",
        "create_subject no longer looks the consent text up",
        "tessera/workflows/subjects.py",
        "        text = get_consent_text(session, consent.text_version, consent.text_sha256)\n",
        # Any registered text stands in for the one the consent names (so coverage is still checked).
        "        text = session.scalars(select(get_consent_text.__globals__['ConsentText'])).first()\n",
        ("tests/governance/test_consent_ledger.py::test_subject_needs_a_registered_text",),
    ),
    Mutation(
        "M2",
        "a consent text version may be registered again with another text",
        "tessera/workflows/consent_texts.py",
        "        if any(t.language == language for t in siblings):",
        "        if False:",
        ("tests/governance/test_consent_ledger.py::test_texts_are_versioned_and_immutable",),
    ),
    Mutation(
        "M3",
        "the tombstone of a withdrawn consent is not looked up",
        "tessera/workflows/subjects.py",
        "        if session.scalar(select(Tombstone.subject_id).where(Tombstone.consent_sha256 == fingerprint))"
        " is not None:",
        "        if False:",
        ("tests/governance/test_rules.py::test_a_withdrawn_consent_cannot_be_replayed",),
    ),
    Mutation(
        "M40",
        "a gallery takes consent evidence of any kind, whatever it accepts",
        "tessera/governance/consent.py",
        "    if kind.value in accepted:\n        return None",
        "    if True:\n        return None",
        ("tests/governance/consent/test_evidence.py::test_a_gallery_chooses_the_evidence_it_accepts",),
    ),
    Mutation(
        "M41",
        "the worker recording a spoken consent may witness it with their own key",
        "tessera/workflows/consent_evidence.py",
        "    if witness.id == str(actor):",
        "    if False:",
        (
            "tests/governance/consent/test_evidence.py::test_spoken_consent_is_witnessed_by_a_second_worker_with_their_own_key",
        ),
    ),
    Mutation(
        "M42",
        "a witness is taken on their key's id alone: its secret and its revocation are not checked",
        "tessera/workflows/consent_evidence.py",
        "        witness = authenticate(instance, witness_key.strip())\n",
        "        key = instance.sessions().get(\n"
        "            authenticate.__globals__['ApiKey'], witness_key.strip().removeprefix('tsk_').partition('_')[0]\n"
        "        )\n"
        "        if key is None:\n"
        "            raise Unauthorized('The API key is not valid.', code='invalid_key')\n"
        "        galleries = frozenset(g.gallery_id for g in key.galleries) or None\n"
        "        witness = Actor(id=f'key:{key.id}', role=key.role, galleries=galleries)\n",
        (
            "tests/governance/consent/test_evidence.py::test_spoken_consent_is_witnessed_by_a_second_worker_with_their_own_key",
        ),
    ),
    Mutation(
        "M43",
        "a witness's key need not be allowed to enrol in the gallery",
        "tessera/workflows/consent_evidence.py",
        "    if not allows(witness.role, Permission.ENROL) or not reaches(witness.galleries, gallery_id):",
        "    if False:",
        (
            "tests/governance/consent/test_evidence.py::test_spoken_consent_is_witnessed_by_a_second_worker_with_their_own_key",
        ),
    ),
    Mutation(
        "M44",
        "a signature or thumbprint mark is stored unsealed",
        "tessera/workflows/subjects.py",
        "                    evidence_ciphertext=sealed_evidence,",
        "                    evidence_ciphertext=evidence.image,",
        (
            "tests/governance/consent/test_evidence.py::test_a_signature_is_sealed_under_the_subjects_key_and_erased_with_it",
        ),
    ),
    Mutation(
        "M45",
        "a signature or thumbprint mark is sealed under a key that outlives the subject's erasure",
        "tessera/store/vault.py",
        # The seal and the opening both, so that the image still opens while the subject exists.
        EVIDENCE_SEALING,
        EVIDENCE_SEALING.replace("self._subject_keys.get(subject_id)", "bytes(32)"),
        (
            "tests/governance/consent/test_evidence.py::test_a_signature_is_sealed_under_the_subjects_key_and_erased_with_it",
        ),
    ),
    Mutation(
        "M46",
        "the store counts the gallery's people without biometrics in N, as if they held every kind of template",
        "tessera/store/counts.py",
        "    return dict(combinations)",
        "    record = __import__('tessera.store.models').store.models.NonBiometricRecord\n"
        "    without = session.scalars(select(record).where(record.gallery_id == gallery_id)).all()\n"
        "    combinations[frozenset(range(len(kinds)))] += len(without)\n"
        "    return dict(combinations)",
        (
            "tests/governance/test_non_biometric.py::test_registered_and_served_without_any_biometric_record",
            "tests/governance/test_non_biometric.py::"
            "test_a_search_neither_counts_nor_finds_a_person_registered_without_biometrics",
        ),
    ),
    Mutation(
        "M47",
        "a 1:N search adds the gallery's people without biometrics to the N the store counted",
        "tessera/workflows/search.py",
        GALLERY_POPULATION,
        GALLERY_POPULATION + "        record = __import__('tessera.store.models').store.models.NonBiometricRecord\n"
        "        select = __import__('sqlalchemy').select\n"
        "        without = session.scalars(select(record).where(record.gallery_id == request.gallery_id)).all()\n"
        "        everyone = frozenset(range(len(kinds)))\n"
        "        by_kinds[everyone] = by_kinds.get(everyone, 0) + len(without)\n",
        (
            "tests/governance/test_non_biometric.py::"
            "test_a_search_neither_counts_nor_finds_a_person_registered_without_biometrics",
        ),
    ),
    Mutation(
        "M48",
        "registering a person without biometrics puts an entry in each face index",
        "tessera/workflows/non_biometric.py",
        "            session.add(record)\n            session.flush()\n",
        "            session.add(record)\n"
        "            session.flush()\n"
        "            for matcher in instance.matchers.faces:\n"
        "                if matcher.index._dim is not None:  # a placeholder template of the index's dimension\n"
        "                    numpy, base = __import__('numpy'), __import__('tessera.index.base').index.base\n"
        "                    placeholder = numpy.full(matcher.index._dim, matcher.index._dim**-0.5, numpy.float32)\n"
        "                    matcher.index.upsert([base.IndexEntry(\n"
        "                        record.id, record.id, gallery.id, matcher.index.matcher, 0, placeholder,\n"
        "                        frozenset({'deduplicate'}), record.registered_at + timedelta(days=365),\n"
        "                    )])\n",
        (
            "tests/governance/test_non_biometric.py::test_registered_and_served_without_any_biometric_record",
            "tests/governance/test_non_biometric.py::"
            "test_a_search_neither_counts_nor_finds_a_person_registered_without_biometrics",
        ),
    ),
    Mutation(
        "M49",
        "a person is registered without biometrics in a gallery that does not allow it",
        "tessera/workflows/non_biometric.py",
        "    if not gallery.allow_non_biometric:",
        "    if False:",
        (
            "tests/governance/test_non_biometric.py::"
            "test_registered_only_where_allowed_and_still_served_once_the_gallery_stops_it",
        ),
    ),
    Mutation(
        "M50",
        "the registration workflow keeps a reason outside the fixed list as it was typed",
        "tessera/workflows/non_biometric.py",
        "        chosen = NonBiometricReason(reason)\n",
        "        free_text = __import__('types').SimpleNamespace(value=reason)\n"
        "        chosen = NonBiometricReason(reason) if reason in set(NonBiometricReason) else free_text\n",
        ("tests/governance/test_non_biometric.py::test_the_reason_is_chosen_from_the_fixed_list_never_inferred",),
    ),
    Mutation(
        "M51",
        "a record without biometrics is kept three years, whatever the gallery's retention",
        "tessera/workflows/non_biometric.py",
        "                retention_days=retention_days,\n",
        "                retention_days=MAX_RETENTION_DAYS,\n",
        ("tests/governance/test_non_biometric.py::test_records_are_kept_no_longer_than_the_gallerys_retention",),
    ),
    Mutation(
        "M90",
        "a person registered without biometrics is refused service once an admin stops the gallery registering "
        "people without biometrics",
        "tessera/workflows/non_biometric.py",
        "        gallery = _open_gallery(session, gallery_id)",
        "        gallery = _gallery_allowing(session, gallery_id)",
        (
            "tests/governance/test_non_biometric.py::"
            "test_registered_only_where_allowed_and_still_served_once_the_gallery_stops_it",
        ),
    ),
    Mutation(
        "M91",
        "a withdrawal of a person registered without biometrics answers a receipt but leaves their record",
        "tessera/workflows/non_biometric.py",
        "    session.delete(record)\n    entry = instance.record(",
        "    entry = instance.record(",
        (
            "tests/governance/test_non_biometric.py::"
            "test_a_person_registered_without_biometrics_withdraws_and_the_record_is_erased_before_the_answer",
        ),
    ),
    Mutation(
        "M92",
        "the retention erases a record without biometrics but keeps no receipt: its number no longer says why",
        "tessera/workflows/non_biometric.py",
        "            _erase(instance, session, actor, record, reason, now)",
        "            session.delete(record)",
        (
            "tests/governance/test_non_biometric.py::"
            "test_a_record_the_retention_erased_keeps_a_receipt_and_its_number_says_why",
        ),
    ),
    Mutation(
        "M4",
        "the gallery size counts subjects whatever purpose they consented to",
        "tessera/store/counts.py",
        "        if purpose in purposes:",
        "        if True:",
        ("tests/governance/test_rules.py::test_only_subjects_consented_to_the_search_purpose_are_searched",),
    ),
    Mutation(
        "M5",
        "erasure no longer destroys the subject's data key",
        "tessera/workflows/subjects.py",
        "    instance.vault.erase_subject(subject_id)\n    # The indexes forget",
        "    # The indexes forget",
        (
            "tests/security/test_erasure.py::test_a_crash_before_the_commit_leaves_no_key_and_a_retry_finishes",
            "tests/security/test_erased_data.py::"
            "test_a_restored_database_folder_does_not_revive_an_erased_person_and_verify_answers_a_clear_error",
        ),
    ),
    Mutation(
        "M6",
        "the write-ahead log is not cut after an erasure",
        "tessera/store/db.py",
        '    if engine.dialect.name != "sqlite":\n        return\n    connection = engine.raw_connection()',
        "    return\n    connection = engine.raw_connection()",
        (
            "tests/security/test_erased_data.py::"
            "test_an_erased_persons_name_and_sealed_template_are_gone_from_the_database_files",
        ),
    ),
    Mutation(
        "M7",
        "a retention period longer than three years is accepted",
        "tessera/governance/retention.py",
        "    if not 1 <= days <= MAX_RETENTION_DAYS:",
        "    if not 1 <= days:",
        ("tests/governance/test_retention.py::test_retention_cannot_exceed_three_years",),
    ),
    Mutation(
        "M8",
        "the service's retention job runs nothing",
        "tessera/workflows/retention.py",
        "                receipts = run_retention(self.instance)",
        "                receipts = []",
        ("tests/governance/test_rules.py::test_the_service_runs_the_retention_schedule_by_itself",),
    ),
    Mutation(
        "M9",
        "the retention policy needs a key",
        "tessera/api/routes/governance.py",
        "def get_retention_policy(instance: InstanceDep):",
        "def get_retention_policy(instance: InstanceDep, actor: RetentionRunner):",
        ("tests/governance/test_retention.py::test_retention_policy_is_public",),
    ),
    Mutation(
        "M10",
        "a route lists subjects in bulk",
        "tessera/api/routes/subjects.py",
        '@router.delete(\n    "/{subject_id}",',
        '@router.get("")\ndef list_subjects():\n    return []\n\n\n@router.delete(\n    "/{subject_id}",',
        ("tests/api/test_scope.py::test_no_route_returns_templates_or_lists_subjects",),
    ),
    Mutation(
        "M11",
        "a sealed template opens under another row's id (no associated data)",
        "tessera/store/crypto.py",
        ", associated_data)",
        ', b"")',
        ("tests/store/test_vault.py::test_a_sealed_template_opens_only_as_its_own_row",),
        every=True,
    ),
    Mutation(
        "M12",
        "a key folder inside the database folder is accepted",
        "tessera/settings.py",
        "                if path == folder or folder in path.parents:",
        "                if False:",
        ("tests/security/test_erased_data.py::test_a_key_folder_inside_the_database_folder_is_refused",),
    ),
    Mutation(
        "M13",
        "a verifier may also search",
        "tessera/governance/roles.py",
        "    Role.VERIFIER: frozenset({Permission.VERIFY, Permission.READ_GALLERIES}),",
        "    Role.VERIFIER: frozenset({Permission.VERIFY, Permission.READ_GALLERIES, Permission.IDENTIFY}),",
        ("tests/api/test_auth.py::test_docs_role_table_matches_the_code",),
    ),
    Mutation(
        "M28",
        "a route no longer checks the caller's permission",
        "tessera/api/deps.py",
        "        if not allows(actor.role, permission):",
        "        if False:",
        ("tests/api/test_auth.py::test_every_route_with_every_role",),
    ),
    Mutation(
        "M14",
        "a key limited to galleries reaches every gallery",
        "tessera/governance/scope.py",
        "    return galleries is None or (gallery_id is not None and gallery_id in galleries)",
        "    return True",
        ("tests/security/test_gallery_scope.py::test_a_key_limited_to_a_gallery_reaches_nothing_outside_it",),
    ),
    Mutation(
        "M15",
        "a ZIP archive is not recognised as a container",
        "tessera/capture/decode.py",
        '    (b"PK\\x03\\x04", "a ZIP archive"),\n',
        "",
        ("tests/capture/test_decode.py::test_archives_and_videos_are_refused",),
    ),
    Mutation(
        "M16",
        "animated images pass as stills",
        "tessera/capture/decode.py",
        '        frame_count = getattr(picture, "n_frames", 1)',
        "        frame_count = 1",
        ("tests/capture/test_decode.py::test_animated_images_are_refused",),
    ),
    Mutation(
        "M17",
        "a purpose for scoring people for risk enters the consent vocabulary",
        "tessera/governance/vocabulary.py",
        '    DEDUPLICATE = "deduplicate"',
        '    DEDUPLICATE = "deduplicate"\n    RISK = "risk"',
        ("tests/api/test_scope.py::test_consent_vocabulary_is_closed",),
    ),
    Mutation(
        "M18",
        "the search's audit entry loses the probe's hash",
        "tessera/workflows/cases.py",
        '            "probe_sha256": probe_sha256,',
        '            "probe_sha256": None,',
        (
            "tests/governance/test_rules.py::test_a_search_is_recorded_with_times_gallery_version_probe_hash_and_candidates",
        ),
    ),
    Mutation(
        "M19",
        "the slipped-in non-mate is not marked as a catch trial",
        "tessera/workflows/cases.py",
        "                    catch_trial=row.candidate is None,",
        "                    catch_trial=False,",
        (
            "tests/governance/test_rules.py::test_catch_trials_measure_each_reviewers_false_confirms_hidden_from_the_requester",
        ),
    ),
    Mutation(
        "M20",
        "an edited entry's hash is not recomputed",
        "tessera/governance/audit.py",
        "        if link_hash(entry.prev_hash, entry.body) != entry.entry_hash:",
        "        if False:",
        ("tests/governance/test_rules.py::test_an_edited_detail_of_an_audit_entry_is_detected",),
    ),
    Mutation(
        "M21",
        "a cut-off chain is not compared with its anchor",
        "tessera/governance/audit.py",
        "        elif seq not in hashes:",
        "        elif False:",
        (
            "tests/governance/test_audit.py::test_truncation_is_detected_by_the_anchor",
            "tests/security/test_audit_rollback.py::test_a_restored_older_database_is_refused_at_every_start",
        ),
    ),
    Mutation(
        "M22",
        "audit retention may be set below six months",
        "tessera/settings.py",
        "        3650, ge=183,",
        "        3650, ge=1,",
        ("tests/governance/test_audit.py::test_audit_retention_has_a_six_month_floor",),
    ),
    Mutation(
        "M23",
        "a failed authentication is not audited",
        "tessera/api/deps.py",
        '            "auth.fail",',
        '            "auth.other",',
        (
            "tests/security/test_authentication.py::test_a_wrong_secret_is_audited_with_the_key_id_and_address_never_the_secret",
        ),
    ),
    Mutation(
        "M24",
        "texts of any length enter the audit log",
        "tessera/governance/audit.py",
        "        if len(value) > MAX_AUDIT_TEXT:",
        "        if False:",
        ("tests/security/test_input.py::test_no_text_longer_than_the_limit_enters_the_audit_log",),
    ),
    Mutation(
        "M25",
        "the export carries each capture's sealed template",
        "tessera/workflows/subject_access.py",
        '                "image_kept": t.image_ciphertext is not None,',
        '                "image_kept": t.image_ciphertext is not None,\n'
        '                "ciphertext": t.ciphertext.hex(),',
        ("tests/governance/test_rules.py::test_subject_access_and_consent_proof_hold_everything_but_templates",),
    ),
    Mutation(
        "M26",
        "an unusable search probe is not refused",
        "tessera/workflows/identify.py",
        "        raise refuse_capture(probe)",
        "        return probe",
        ("tests/governance/test_rules.py::test_an_unusable_capture_is_refused_with_its_reason_and_audited",),
    ),
    Mutation(
        "M93",
        "a usable face below the retake limits is kept with no advice: the worker is not asked for a better photo",
        "tessera/face/quality.py",
        "    return None if refusal is None else RetakeAdvice.of(refusal)",
        "    return None",
        (
            "tests/face/test_retake_tier.py::"
            "test_a_usable_capture_below_the_retake_limits_is_kept_with_the_refusals_words",
        ),
    ),
    Mutation(
        "M94",
        "a face too small to use becomes a template: the gate no longer refuses it",
        "tessera/face/quality.py",
        "    if quality.inter_eye_px < config.min_inter_eye_px:",
        "    if False:",
        (
            "tests/face/test_retake_tier.py::"
            "test_a_capture_that_cannot_be_used_is_refused_with_a_reason_a_worker_can_act_on",
        ),
    ),
    Mutation(
        "M27",
        "the 1:N threshold ignores the gallery size",
        "tessera/match/calibration.py",
        "        return self.threshold_for_fmr(min(expected_false_candidates / int(gallery_size), 1.0))",
        "        return self.threshold_for_fmr(min(expected_false_candidates, 1.0))",
        ("tests/api/test_flow.py::test_identify_threshold_rises_with_gallery_size",),
    ),
    Mutation(
        "M29",
        "the transparency report withholds no count beside a small one (no complementary suppression)",
        "tessera/governance/small_counts.py",
        "    while exposed := _exposed(counts, cells, parent, k):",
        "    while exposed := None:",
        (
            "tests/governance/test_rules.py::test_no_published_count_points_at_a_person_even_by_subtraction",
            "tests/governance/test_small_counts.py::test_a_one_in_a_month_of_forty_is_not_worked_back_by_subtraction",
        ),
    ),
    Mutation(
        "M30",
        "the transparency report publishes small counts (no minimum count)",
        "tessera/governance/small_counts.py",
        '    return count if count >= k else {"fewer_than": k}',
        "    return count",
        (
            "tests/governance/test_rules.py::test_no_published_count_points_at_a_person_even_by_subtraction",
            "tests/governance/test_small_counts.py::test_a_small_count_reads_fewer_than_k_and_a_large_one_its_number",
        ),
    ),
    Mutation(
        "M60",
        "the reviewer sees each candidate's score",
        "tessera/workflows/adjudication.py",
        "                    your_decision=own,\n                ).__dict__\n",
        "                    your_decision=own,\n                ).__dict__\n"
        '                | {"score": candidate.score}\n',
        (
            "tests/governance/test_review_workbench.py::"
            "test_the_reviewer_sees_photos_and_bands_and_the_photos_go_with_the_subject_and_the_case",
            "tests/governance/test_review_workbench.py::"
            "test_a_catch_trial_and_a_real_candidate_look_the_same_to_the_reviewer",
        ),
    ),
    Mutation(
        "M61",
        "a catch trial is shown the band of its own score",
        "tessera/workflows/adjudication.py",
        "                    band=catch_trial_band(candidate.id, real_bands)\n"
        "                    if candidate.catch_trial\n"
        "                    else score_band(candidate.fmr),\n",
        "                    band=score_band(candidate.fmr),\n",
        (
            "tests/governance/test_review_workbench.py::"
            "test_a_catch_trial_and_a_real_candidate_look_the_same_to_the_reviewer",
        ),
    ),
    Mutation(
        "M62",
        "a catch trial without a photo is listed beside candidates with one",
        "tessera/workflows/cases.py",
        "        if catch is not None and _has_photo(session, catch) != _has_photo(session, found.listed[0]):",
        "        if False:",
        (
            "tests/governance/test_review_workbench.py::"
            "test_a_catch_trial_without_a_photo_is_not_shown_beside_candidates_with_one",
        ),
    ),
    Mutation(
        "M63",
        "the reviewer sees each candidate's rank, which a catch trial lacks",
        "tessera/workflows/adjudication.py",
        "                    your_decision=own,\n                ).__dict__\n",
        "                    your_decision=own,\n                ).__dict__\n"
        '                | {"rank": candidate.rank}\n',
        (
            "tests/governance/test_review_workbench.py::"
            "test_a_catch_trial_and_a_real_candidate_look_the_same_to_the_reviewer",
        ),
    ),
    Mutation(
        "M64",
        "the receipt does not say how to withdraw",
        "tessera/workflows/receipts.py",
        '{row("withdraw", words["withdraw_text"])}\n',
        "",
        (
            "tests/governance/test_receipts.py::test_the_receipt_says_what_for_until_when_and_how_to_withdraw_or_complain",
        ),
    ),
    Mutation(
        "M65",
        "the receipt does not say how to complain",
        "tessera/workflows/receipts.py",
        '{row("complain", complain)}\n',
        "",
        (
            "tests/governance/test_receipts.py::test_the_receipt_says_what_for_until_when_and_how_to_withdraw_or_complain",
        ),
    ),
    Mutation(
        "M66",
        "the receipt's kept-until date ignores the end of the consent",
        "tessera/workflows/receipts.py",
        "    return min(last_interaction_at + timedelta(days=retention_days), consent_expires_at)",
        "    return last_interaction_at + timedelta(days=retention_days)",
        (
            "tests/governance/test_receipts.py::test_the_receipt_says_what_for_until_when_and_how_to_withdraw_or_complain",
        ),
    ),
    Mutation(
        "M67",
        "the receipt lists every purpose, not those the person consented to",
        "tessera/workflows/receipts.py",
        "            purposes=[words.get(p, p) for p in consent.purposes],",
        '            purposes=[words.get(p, p) for p in ("verify", "deduplicate")],',
        (
            "tests/governance/test_receipts.py::test_the_receipt_says_what_for_until_when_and_how_to_withdraw_or_complain",
        ),
    ),
    Mutation(
        "M68",
        "the receipt does not say what was captured",
        "tessera/workflows/receipts.py",
        '            captured=", ".join(',
        '            captured=words["nothing"] or ", ".join(',
        (
            "tests/governance/test_receipts.py::test_the_receipt_says_what_for_until_when_and_how_to_withdraw_or_complain",
        ),
    ),
    Mutation(
        "M69",
        "the receipt is in English unless another language is asked for, whatever text the person was shown",
        "tessera/workflows/receipts.py",
        '        wanted = language if language in texts else (shown.language if shown else "en")',
        '        wanted = language if language in texts else "en"',
        ("tests/governance/test_receipts.py::test_the_receipt_speaks_the_language_of_the_consent_text",),
    ),
    Mutation(
        "M70",
        "a confirmed match makes a notice for every candidate of the case",
        "tessera/workflows/adjudication.py",
        "        if candidate.status == ReviewStatus.CONFIRMED and not candidate.catch_trial:\n"
        "            # A lead became a finding that affects the person: they are told"
        " (a catch trial is nobody's finding).\n"
        "            notify(\n"
        "                instance,\n"
        "                session,\n"
        "                subject_id=candidate.subject_id,\n",
        "        confirmed = candidate.status == ReviewStatus.CONFIRMED and not candidate.catch_trial\n"
        "        for listed in search.candidates if confirmed else []:\n"
        "            notify(\n"
        "                instance,\n"
        "                session,\n"
        "                subject_id=listed.subject_id,\n",
        ("tests/governance/test_contests.py::test_a_confirmed_match_makes_a_notice_for_that_person_and_no_one_else",),
    ),
    Mutation(
        "M71",
        "a notice is made at the first confirmation, before the second reviewer decides",
        "tessera/workflows/adjudication.py",
        "        if candidate.status == ReviewStatus.CONFIRMED and not candidate.catch_trial:",
        "        if decision == CONFIRM and not candidate.catch_trial:",
        ("tests/governance/test_contests.py::test_a_lead_makes_no_notice_before_review",),
    ),
    Mutation(
        "M72",
        "a catch trial wrongly confirmed makes a notice for the non-mate",
        "tessera/workflows/adjudication.py",
        "        if candidate.status == ReviewStatus.CONFIRMED and not candidate.catch_trial:",
        "        if candidate.status == ReviewStatus.CONFIRMED:",
        ("tests/governance/test_contests.py::test_a_confirmed_catch_trial_makes_no_notice",),
    ),
    Mutation(
        "M73",
        "a catch trial two reviewers confirmed is named to the requester",
        "tessera/governance/adjudication.py",
        'if not catch_trial and status == "confirmed"',
        'if status == "confirmed"',
        (
            "tests/governance/test_rules.py::test_catch_trials_measure_each_reviewers_false_confirms_hidden_from_the_requester",
        ),
    ),
    Mutation(
        "M74",
        "a catch trial two reviewers confirmed makes the requester's search confirmed",
        "tessera/governance/adjudication.py",
        "    real = [status for _, catch_trial, status in rows if not catch_trial]",
        "    real = [status for _, catch_trial, status in rows]",
        (
            "tests/governance/test_rules.py::test_catch_trials_measure_each_reviewers_false_confirms_hidden_from_the_requester",
        ),
    ),
    Mutation(
        "M75",
        "the reviewer gets no reference photo: the decision is taken on the band alone",
        "tessera/workflows/adjudication.py",
        "    if template is None or template.image_ciphertext is None:\n        return None\n",
        "    return None\n",
        (
            "tests/governance/test_review_workbench.py::"
            "test_the_reviewer_sees_photos_and_bands_and_the_photos_go_with_the_subject_and_the_case",
        ),
    ),
    Mutation(
        "M76",
        "the reviewer gets no probe photo",
        "tessera/workflows/adjudication.py",
        "    return None if probe is None else data_url(probe)\n",
        "    return None\n",
        (
            "tests/governance/test_review_workbench.py::"
            "test_the_reviewer_sees_photos_and_bands_and_the_photos_go_with_the_subject_and_the_case",
        ),
    ),
    Mutation(
        "M77",
        "catch trials are listed after the real candidates",
        "tessera/workflows/adjudication.py",
        "        for candidate in sorted(search.candidates, key=lambda c: c.id):",
        "        for candidate in sorted(search.candidates, key=lambda c: (c.catch_trial, c.id)):",
        (
            "tests/governance/test_review_workbench.py::"
            "test_a_catch_trial_and_a_real_candidate_look_the_same_to_the_reviewer",
        ),
    ),
    Mutation(
        "M80",
        "a registration erased as a confirmed duplicate gets no notice",
        "tessera/workflows/dedup.py",
        "        if told is not None and not _told_already(instance, search_id):\n            _notify(",
        "        if False:\n            _notify(",
        (ERASED_NOTICE_TEST,),
    ),
    Mutation(
        "M81",
        "the erased registration's notice is made for the record it was found to duplicate",
        "tessera/workflows/notices.py",
        "            subject_id=None,\n            erased_subject_id=erased_subject_id,\n",
        "            subject_id=session.get_one(__import__('tessera.store.models').store.models.CaseCandidate,"
        " candidate_id).subject_id,\n            erased_subject_id=erased_subject_id,\n",
        (ERASED_NOTICE_TEST,),
    ),
    Mutation(
        "M82",
        "the notices are not filtered by the case number asked for",
        "tessera/workflows/notices.py",
        "        query = query.where(Notice.reference == reference.strip().upper())\n",
        "        query = query.where(Notice.gallery_id.is_not(None))\n",
        (ERASED_NOTICE_TEST,),
    ),
    Mutation(
        "M83",
        "the language of the consent text shown is not kept for the erased registration's notice",
        "tessera/workflows/dedup.py",
        "None if shown is None else shown.language, candidate_id)",
        "None, candidate_id)",
        ("tests/governance/test_duplicate_notice.py::test_the_notice_speaks_the_language_of_the_consent_text_shown",),
    ),
    Mutation(
        "M84",
        "an erased registration's notice cannot be contested",
        "tessera/governance/notices.py",
        "CONTESTABLE = frozenset({NoticeKind.CONFIRMED_MATCH, NoticeKind.DUPLICATE_ERASED})",
        "CONTESTABLE = frozenset({NoticeKind.CONFIRMED_MATCH})",
        (ERASED_CONTEST_TEST,),
    ),
    Mutation(
        "M85",
        "a corrected duplicate finding is not told to the record it matched when the erased registration contested it",
        "tessera/workflows/contests.py",
        "        .where(Notice.candidate_id == contest.candidate_id, Notice.kind == NoticeKind.CONFIRMED_MATCH.value)",
        "        .where(Notice.id == contested.id)",
        (ERASED_CONTEST_TEST,),
    ),
    Mutation(
        "M86",
        "a contest records no first reviewers, so they may re-review it",
        "tessera/workflows/contests.py",
        "        first_reviewers=sorted(d.adjudicator for d in candidate.decisions),\n",
        "        first_reviewers=[],\n",
        (ERASED_CONTEST_TEST,),
    ),
    Mutation(
        "M87",
        "a notice is made for the registration as soon as the check holds it (a lead, not a finding)",
        "tessera/workflows/dedup.py",
        "    subject.status = SubjectStatus.PENDING_REVIEW\n",
        "    subject.status = SubjectStatus.PENDING_REVIEW\n"
        "    notify_erased(instance, session, erased_subject_id=subject.id, reference=check.case_number,"
        " language=None, gallery_id=subject.gallery_id, search_id=check.search_id,"
        " candidate_id='')\n",
        ("tests/governance/test_duplicate_notice.py::test_a_rejected_lead_makes_no_notice",),
    ),
    Mutation(
        "M88",
        "the retention run finishes no duplicate-check settlement a crash cut short",
        "tessera/workflows/retention.py",
        "    settled = settle_stalled(instance)\n",
        "    settled: list[str] = []\n",
        (
            "tests/governance/test_duplicate_notice.py::"
            "test_a_settlement_cut_short_by_a_crash_is_finished_with_one_notice_by_the_retention_run",
        ),
    ),
    Mutation(
        "M95",
        "a contest of an erased registration's notice re-reviews the best-scored confirmed finding only",
        "tessera/workflows/contest_findings.py",
        "        return sorted(session.scalars(confirmed), key=lambda c: (-c.score, c.id))\n",
        "        return sorted(session.scalars(confirmed), key=lambda c: (-c.score, c.id))[:1]\n",
        (
            "tests/governance/test_duplicate_of_two.py::"
            "test_contesting_the_erasure_re_reviews_both_findings_and_corrects_only_the_one_found_wrong",
            "tests/governance/test_duplicate_of_two.py::"
            "test_both_findings_overturned_tell_the_registration_once_to_register_again",
        ),
    ),
    Mutation(
        "M96",
        "a finding corrected on the matched person's contest is not told to the registration it erased",
        "tessera/workflows/contests.py",
        "    tell_erased(instance, session, search.id, contest.id)\n",
        "    if _party(contested) == 'erased':\n        tell_erased(instance, session, search.id, contest.id)\n",
        (
            "tests/governance/test_duplicate_notice.py::"
            "test_a_finding_corrected_on_the_matched_persons_contest_is_told_to_the_erased_registration",
        ),
    ),
)
"""Every rule broken by hand for docs/governance.md's ``mutation:`` notes."""

_COPIED = ("tessera", "tests", "docs", "pyproject.toml", "README.md")


def mutated_copy(mutation: Mutation, folder: Path) -> Path:
    """A copy of the repository in ``folder`` with ``mutation`` applied (its ``find`` must occur)."""
    for name in _COPIED:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, folder / name, symlinks=True, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, folder / name)
    target = folder / mutation.path
    text = target.read_text()
    if mutation.find not in text:
        raise ValueError(f"{mutation.name}: {mutation.find!r} is not in {mutation.path}")
    target.write_text(text.replace(mutation.find, mutation.replace, -1 if mutation.every else 1))
    return folder


def caught(mutation: Mutation) -> tuple[bool, str]:
    """Whether every test of ``mutation`` fails once it is applied (run without evaluation data)."""
    outputs = []
    for test in mutation.tests:
        with tempfile.TemporaryDirectory() as folder:
            copy = mutated_copy(mutation, Path(folder))
            env = {**os.environ, "PYTHONPATH": str(copy), "TESSERA_SHARED_DATA": "/nonexistent"}
            run = subprocess.run(
                [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", test],
                cwd=copy,
                env=env,
                capture_output=True,
                text=True,
            )
        last = (run.stdout.strip().splitlines() or [""])[-1]
        outputs.append(f"{test}: {last}")
        if run.returncode != 1:  # 0: the mutation survived; 5 or other: the test did not run
            return False, "\n".join(outputs)
    return True, "\n".join(outputs)


def main(names: list[str]) -> int:
    chosen = [m for m in MUTATIONS if not names or m.name in names]
    # A control: the copy itself passes the first mutation's tests, so a failure below is the mutation's doing.
    first = chosen[0]
    control = Mutation("control", "nothing changed", first.path, first.find, first.find, first.tests)
    if caught(control)[0]:
        print("the unmutated copy fails its tests: fix the suite first")
        return 2
    survived = []
    for mutation in chosen:
        ok, output = caught(mutation)
        print(f"{mutation.name} {'caught' if ok else 'SURVIVED'}: {mutation.what}\n{output}\n", flush=True)
        if not ok:
            survived.append(mutation.name)
    print(f"{len(chosen) - len(survived)} of {len(chosen)} mutations caught; survived: {survived or 'none'}")
    return 1 if survived else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
