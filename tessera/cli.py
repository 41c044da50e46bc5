"""The ``tessera`` command: run the service and do every workflow from a shell.

Every command takes ``--data-dir`` (or ``TESSERA_DATA_DIR``), so several
instances can live side by side. Commands run as the local operator
``cli:<user>``, who has the file-system access to the instance's data and
keys that an admin has.
"""

from __future__ import annotations

if __name__ == "__main__":
    # `python -m tessera.cli`: run the importable copy of this module, so that tessera.cli_lists (which imports it)
    # sees it whole rather than this half-run __main__.
    import importlib

    importlib.import_module("tessera.cli").app()
    raise SystemExit(0)

import getpass
import json
import os
from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from tessera.errors import TesseraError
from tessera.governance.roles import Role
from tessera.settings import Settings

app = typer.Typer(
    help="Tessera: consent-first biometric identity.", no_args_is_help=True, pretty_exceptions_enable=False
)
keys_app = typer.Typer(help="API keys.", no_args_is_help=True)
audit_app = typer.Typer(help="The audit trail.", no_args_is_help=True)
gallery_app = typer.Typer(help="Galleries.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")
app.add_typer(audit_app, name="audit")
app.add_typer(gallery_app, name="gallery")
consent_app = typer.Typer(help="Consent texts.", no_args_is_help=True)
retention_app = typer.Typer(help="The retention schedule.", no_args_is_help=True)
report_app = typer.Typer(help="Reports.", no_args_is_help=True)
app.add_typer(consent_app, name="consent-text")
app.add_typer(retention_app, name="retention")
app.add_typer(report_app, name="report")

console = Console()
errors = Console(stderr=True)

DataDir = Annotated[
    Path | None,
    typer.Option("--data-dir", envvar="TESSERA_DATA_DIR", help="Folder of this instance's data (default ./var)."),
]


def _settings(data_dir: Path | None) -> Settings:
    return Settings(data_dir=data_dir) if data_dir is not None else Settings()


def _open(data_dir: Path | None, **options):
    """Open the instance; a broken audit chain is a clear message and exit code 1, never a traceback."""
    from tessera.workflows.instance import AuditChainBroken, Instance

    try:
        return Instance.open(_settings(data_dir), **options)
    except AuditChainBroken as error:
        errors.print(f"[bold red]audit_chain_broken[/]: {error}", markup=True, highlight=False)
        raise typer.Exit(1) from None


def _actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli:unknown"


def _print_json(value) -> None:
    console.print_json(json.dumps(value, default=str))


def _checked_finger_positions(positions: list[int] | None) -> list[int] | None:
    """Refuse a --finger-position that is not 1-10 as a bad parameter (exit code 2), with the library's message."""
    from tessera.finger.positions import check_finger_position

    try:
        return None if positions is None else [check_finger_position(p, "--finger-position") for p in positions]
    except ValueError as error:
        raise typer.BadParameter(str(error)) from None


FacePhoto = Annotated[Path | None, typer.Argument(help="Face photo.", exists=True, dir_okay=False)]
FingerFiles = Annotated[
    list[Path] | None,
    typer.Option(help="Finger photo or scan (repeat for several).", exists=True, dir_okay=False),
]
FingerPositions = Annotated[
    list[int] | None,
    typer.Option(help="Position (1-10) of each --finger, in order.", callback=_checked_finger_positions),
]
Sensor = Annotated[str, typer.Option(help="contactless or contact.")]


def _run(action):
    """Run ``action``, turning Tessera's errors into a clear message and exit code 1."""
    try:
        return action()
    except TesseraError as error:
        errors.print(f"[bold red]{error.code}[/]: {error.message}")
        raise typer.Exit(1) from None


@app.command()
def serve(
    data_dir: DataDir = None,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
) -> None:
    """Run the REST API (its OpenAPI document at /openapi.json) on one worker process."""
    import uvicorn

    from tessera.api.app import create_app
    from tessera.api.server import server_config
    from tessera.workflows.keys import has_admin_key

    instance = _open(data_dir, announce=True)
    console.print(f"Tessera data: {instance.settings.data_dir} ({instance.matchers.indexed()} templates indexed)")
    if not has_admin_key(instance):
        shown = f"--data-dir {instance.settings.data_dir}"
        console.print(
            "[bold]No admin API key yet.[/] Create one in another terminal with:\n"
            f"  .venv/bin/tessera keys create --role admin {shown}"
        )
    console.print(f"API description (OpenAPI): http://{host}:{port}/openapi.json")
    settings = instance.settings
    config = server_config(
        create_app(instance),
        host=host,
        port=port,
        head_timeout=settings.request_head_timeout_seconds,
        body_idle_timeout=settings.request_body_idle_timeout_seconds,
    )
    uvicorn.Server(config).run()


@keys_app.command("create")
def keys_create(
    role: Annotated[Role, typer.Option(help="What the key may do (see docs/roles.md).")],
    label: Annotated[str, typer.Option(help="Who or what the key is for.")] = "",
    gallery: Annotated[
        list[str] | None,
        typer.Option(
            help="Limit the key to this gallery id (repeat for several; not for admin keys). Without it the key "
            "reaches every gallery."
        ),
    ] = None,
    data_dir: DataDir = None,
) -> None:
    """Create an API key and print it (it is shown once; only its hash is kept)."""
    from tessera.workflows.keys import create_key

    key = _run(lambda: create_key(_open(data_dir, build_index=False), _actor(), role, label, gallery))
    reach = f"limited to galleries {', '.join(key.galleries)}" if key.galleries else "for every gallery"
    errors.print(f"Created {key.role} key {key.id} {reach}. Store it now: it cannot be shown again.")
    typer.echo(key.secret)


@keys_app.command("list")
def keys_list(data_dir: DataDir = None) -> None:
    """List every API key, one a line: id, role, galleries (all: a global key), created, who created it (?: before
    this was kept), revoked, label (never a secret)."""
    from tessera.workflows.keys import list_keys

    for key in list_keys(_open(data_dir, build_index=False)):
        galleries = ",".join(key.galleries) if key.galleries else "all"
        revoked = f" revoked={key.revoked_at}" if key.revoked_at else ""
        typer.echo(
            f"{key.id} role={key.role} galleries={galleries} created={key.created_at} "
            f"created_by={key.created_by or '?'}{revoked} label={key.label!r}"
        )


@keys_app.command("revoke")
def keys_revoke(key_id: str, data_dir: DataDir = None) -> None:
    """Revoke the API key with id KEY_ID."""
    from tessera.workflows.keys import revoke_key

    _run(lambda: revoke_key(_open(data_dir, build_index=False), _actor(), key_id))
    console.print(f"Revoked key {key_id}.")


@gallery_app.command("create")
def gallery_create(
    name: str,
    purpose: Annotated[str, typer.Option(help="The programme purpose the gallery serves.")],
    data_dir: DataDir = None,
) -> None:
    """Create a gallery and print its id."""
    from tessera.workflows.galleries import create_gallery

    gallery = _run(lambda: create_gallery(_open(data_dir, build_index=False), _actor(), name, purpose))
    typer.echo(gallery.id)


@app.command()
def enrol(
    gallery_id: Annotated[str, typer.Option(help="Gallery to enrol into.")],
    consent_file: Annotated[
        Path,
        typer.Option(
            help="JSON consent record (purposes, modalities, text_version, text_sha256, signed_by, signed_at, "
            "expires_at).",
            exists=True,
            dir_okay=False,
        ),
    ],
    images: Annotated[
        list[Path] | None, typer.Argument(help="Face photos of the person.", exists=True, dir_okay=False)
    ] = None,
    finger: Annotated[
        list[Path] | None,
        typer.Option(help="Finger photo or scan, one finger each (repeat for several).", exists=True, dir_okay=False),
    ] = None,
    finger_position: Annotated[
        list[int] | None,
        typer.Option(
            help="ISO/IEC 19794-2 position (1 right thumb ... 10 left little) of each --finger, in order.",
            callback=_checked_finger_positions,
        ),
    ] = None,
    capture: Annotated[
        str, typer.Option(help="How the fingers were captured: contactless (phone photo) or contact (scanner, ink).")
    ] = "contactless",
    data_dir: DataDir = None,
) -> None:
    """Create a subject under a consent record and enrol face photos and fingers; prints the subject id."""
    from tessera.governance.consent import ConsentInput
    from tessera.workflows.captures import Capture
    from tessera.workflows.dedup import MESSAGE
    from tessera.workflows.enrolment import enrol
    from tessera.workflows.subjects import create_subject

    fingers, positions = finger or [], finger_position or []
    if not images and not fingers:
        errors.print("[bold red]nothing to enrol[/]: give face photos, or --finger with --finger-position")
        raise typer.Exit(2)
    if len(positions) != len(fingers):
        errors.print(
            f"[bold red]--finger-position[/] must be given once per --finger: got {len(fingers)} --finger and "
            f"{len(positions)} --finger-position"
        )
        raise typer.Exit(2)

    try:
        consent = ConsentInput.model_validate_json(consent_file.read_text())
    except ValueError as error:
        errors.print(f"[bold red]invalid consent file[/] {consent_file}: {error}")
        raise typer.Exit(1) from None
    instance = _open(data_dir, build_index=False)
    created = _run(lambda: create_subject(instance, _actor(), gallery_id, consent))
    subject_id = created.id
    errors.print(f"subject number {created.number}")
    for image in images or []:
        face = Capture.face(image.read_bytes())
        enrolment = _run(lambda face=face: enrol(instance, _actor(), subject_id, face))
        if enrolment.review is not None:
            errors.print(f"{image.name}: [bold yellow]{MESSAGE}[/] Case {enrolment.review.case_number}.")
            break
        errors.print(f"{image.name}: template {enrolment.template_id}")
    for path, position in zip(fingers, positions):
        probe = Capture.finger(path.read_bytes(), position, capture)
        enrolment = _run(lambda probe=probe: enrol(instance, _actor(), subject_id, probe))
        errors.print(f"{path.name} (finger {position}, {capture}): template {enrolment.template_id}")
    typer.echo(subject_id)


@app.command()
def verify(
    subject_id: str,
    image: FacePhoto = None,
    finger: FingerFiles = None,
    finger_position: FingerPositions = None,
    capture: Sensor = "contactless",
    data_dir: DataDir = None,
) -> None:
    """1:1: is the person in IMAGE (and/or the --finger captures) the one enrolled as SUBJECT_ID?

    Answered as the subject's gallery discloses scores: a decision and an FMR band (banded, the default), or the
    scores (exact).
    """
    from tessera.workflows.score_disclosure import verify_for_requester

    captures = _captures(image, finger, finger_position, capture)
    _print_json(_run(lambda: verify_for_requester(_open(data_dir, build_index=False), _actor(), subject_id, captures)))


def _captures(image: Path | None, fingers: list[Path] | None, positions: list[int] | None, capture: str) -> list:
    """The face photo (if any) and the --finger captures of a command, as workflow captures."""
    from tessera.workflows.captures import Capture

    fingers, positions = fingers or [], positions or []
    if len(positions) != len(fingers):
        errors.print(
            f"[bold red]--finger-position[/] must be given once per --finger: got {len(fingers)} --finger and "
            f"{len(positions)} --finger-position"
        )
        raise typer.Exit(2)
    face = [Capture.face(image.read_bytes())] if image is not None else []
    return face + [Capture.finger(path.read_bytes(), position, capture) for path, position in zip(fingers, positions)]


@app.command()
def identify(
    gallery_id: str,
    case_reference: Annotated[str, typer.Option(help="The case this search is for (required).")],
    image: FacePhoto = None,
    purpose: Annotated[
        str, typer.Option(help="Why the search is run (must be consented by those searched).")
    ] = "deduplicate",
    finger: FingerFiles = None,
    finger_position: FingerPositions = None,
    capture: Sensor = "contactless",
    data_dir: DataDir = None,
) -> None:
    """1:N: search GALLERY_ID for the person in IMAGE (and/or the --finger captures); candidates go to review."""
    from tessera.workflows.disclosure import identification_answer
    from tessera.workflows.identify import identify as identify_subjects

    captures = _captures(image, finger, finger_position, capture)
    result = _run(lambda: identify_subjects(_open(data_dir), _actor(), gallery_id, purpose, case_reference, captures))
    answer = identification_answer(result)  # no candidate is named before two reviewers confirm one
    errors.print(
        f"Case {result.search_id}: {str(answer['status']).replace('_', ' ')} (searched {result.gallery_size}; "
        f"expected wrong candidates {result.expected_false_candidates:.2g})"
    )
    _print_json(answer)


@app.command()
def algorithms(data_dir: DataDir = None) -> None:
    """The face algorithms: which this instance serves, their templates, and who lacks the default one."""
    from tessera.workflows.coverage import algorithm_coverage

    coverage = algorithm_coverage(_open(data_dir, build_index=False))
    table = Table(title="Face algorithms")
    for column in ("algorithm", "served", "templates", "people"):
        table.add_column(column)
    for row in coverage.algorithms:
        served = "default" if row.default else ("yes" if row.served else ("no" if row.registered else "unknown"))
        table.add_row(row.algorithm, served, str(row.templates), str(row.subjects))
    errors.print(table)
    errors.print(
        f"{coverage.lacking_default} of {coverage.subjects_with_a_face} people with a face enrolled have no "
        "template of the default algorithm: 1:N does not find them until a successful verification with a fresh "
        "photo adds one, or they are re-enrolled (docs/algorithms.md)."
    )
    errors.print(
        f"{coverage.default_retake_advised} have only photos kept with a retake advised (turned, dim or soft) for "
        "the default algorithm: a better photo at their next visit makes them surer to be found."
    )
    _print_json(asdict(coverage))


@gallery_app.command("enable-identification")
def gallery_enable_identification(
    gallery_id: str,
    dpia_reference: Annotated[str, typer.Option(help="The impact assessment (DPIA) that justifies 1:N search.")],
    data_dir: DataDir = None,
) -> None:
    """Allow 1:N search of GALLERY_ID for de-duplication."""
    from tessera.workflows.policy import enable_identification

    _run(lambda: enable_identification(_open(data_dir, build_index=False), _actor(), gallery_id, dpia_reference))
    console.print(f"1:N search enabled for {gallery_id} (DPIA {dpia_reference}).")


@gallery_app.command("score-disclosure")
def gallery_score_disclosure(
    gallery_id: str,
    disclosure: Annotated[
        str, typer.Argument(help="banded (a decision and an FMR band; the default) or exact (evaluation galleries).")
    ],
    reason: Annotated[str, typer.Option(help="Why it changes (recorded in the audit log).")],
    data_dir: DataDir = None,
) -> None:
    """Choose what GALLERY_ID's verification and search answers say about scores (audited)."""
    from tessera.workflows.score_disclosure import set_score_disclosure

    chosen = _run(
        lambda: set_score_disclosure(_open(data_dir, build_index=False), _actor(), gallery_id, disclosure, reason)
    )
    console.print(f"Scores of {gallery_id} are now answered {chosen.value}.")


@gallery_app.command("renew-rotation")
def gallery_renew_rotation(
    gallery_id: str,
    reason: Annotated[str, typer.Option(help="Why it is renewed (recorded in the audit log).")],
    data_dir: DataDir = None,
) -> None:
    """Re-rotate GALLERY_ID's face templates in the external index under a new secret and destroy the old one.

    Audited. Other processes serving the same index follow the new rotation
    at their next search, but see only the rows already moved while it runs:
    run it in a quiet hour. An interrupted renewal is finished by running it
    again.
    """
    from tessera.workflows.rotation_renewal import renew_gallery_rotation

    renewal = _run(lambda: renew_gallery_rotation(_open(data_dir), _actor(), gallery_id, reason))
    moved = sum(renewal.rows_moved.values())
    console.print(
        f"Rotation of {gallery_id} renewed ({renewal.from_renewal} -> {renewal.to_renewal}): {moved} templates "
        f"re-rotated, {renewal.seeds_destroyed} old seed(s) destroyed."
    )


@consent_app.command("add")
def consent_text_add(
    text_file: Annotated[
        Path, typer.Argument(help="UTF-8 file holding the exact text shown to people.", exists=True, dir_okay=False)
    ],
    version: Annotated[str, typer.Option(help="Content id of this text, e.g. 2026-01 (shared by its translations).")],
    modality: Annotated[list[str], typer.Option(help="A biometric the text asks consent for (face, finger).")],
    purpose: Annotated[list[str], typer.Option(help="A purpose the text asks consent for (verify, deduplicate).")],
    language: Annotated[str, typer.Option(help="BCP 47 language tag.")] = "en",
    gallery: Annotated[str | None, typer.Option(help="The one gallery the text is for.")] = None,
    shared: Annotated[bool, typer.Option(help="Offer the text in every gallery (instead of --gallery).")] = False,
    keeps_reference_photo: Annotated[
        bool,
        typer.Option(
            help="The text tells people a photo of their face is kept sealed for two-person review where 1:N "
            "search is enabled, and erased with them."
        ),
    ] = False,
    data_dir: DataDir = None,
) -> None:
    """Register a consent text for one gallery (--gallery) or every gallery (--shared); prints its SHA-256."""
    from tessera.workflows.consent_texts import register_consent_text

    if (gallery is None) != shared:
        raise typer.BadParameter("give either --gallery GALLERY_ID or --shared, not both or neither")
    record = _run(
        lambda: register_consent_text(
            _open(data_dir, build_index=False),
            _actor(),
            version,
            text_file.read_text("utf-8"),
            language,
            gallery_id=gallery,
            modalities=modality,
            purposes=purpose,
            keeps_reference_photo=keeps_reference_photo,
        )
    )
    typer.echo(record.sha256)


@retention_app.command("run")
def retention_run(data_dir: DataDir = None) -> None:
    """Erase everyone whose data may no longer be kept; prints the erasure receipts."""
    from tessera.workflows.retention import run_retention

    receipts = run_retention(_open(data_dir, build_index=False))
    _print_json([receipt.as_dict() for receipt in receipts])


@report_app.command("transparency")
def report_transparency(
    period: Annotated[str, typer.Option(help="day, month or year.")] = "month",
    data_dir: DataDir = None,
) -> None:
    """Aggregate counts per period: enrolments, withdrawals, searches, reviews, refusals.

    A count below transparency_min_count (default 5) reads {"fewer_than": 5}, 0 included, and one withheld so that
    no small count can be worked out by subtraction reads {"at_least": 5} (docs/governance.md, "Small counts").
    """
    from tessera.workflows.transparency import transparency_report

    try:
        report = transparency_report(_open(data_dir, build_index=False), period)
    except ValueError as error:
        errors.print(f"[bold red]invalid period[/]: {error}")
        raise typer.Exit(1) from None
    _print_json(report)


@report_app.command("programme")
def report_programme(
    markdown: Annotated[Path | None, typer.Option(help="Write the Markdown page here (figure beside it).")] = None,
    html: Annotated[
        Path | None, typer.Option(help="Write the phone-readable HTML page here (figure and stylesheet beside it).")
    ] = None,
    face_report: Annotated[
        Path, typer.Option(help="report.json of `tessera eval lfw` for the default face algorithm.")
    ] = Path("docs/accuracy/lfw-sface/report.json"),
    fusion_report: Annotated[
        Path, typer.Option(help="report.json of `tessera eval fusion` with the default face algorithm.")
    ] = Path("docs/accuracy/fusion-sface/report.json"),
    calibrations: Annotated[
        Path | None, typer.Option(help="Folder of calibration files (default: the ones the service uses).")
    ] = None,
) -> None:
    """What the accuracy means for a programme: face, fingers and both, by gallery size, in plain words.

    Every number is read from the calibration files and evaluation reports; without --markdown or --html
    the numbers are printed as JSON.
    """
    from tessera.evaluation.programme import Sources, programme_summary
    from tessera.evaluation.programme_page import write_pages
    from tessera.match.matchers import CALIBRATIONS_DIR

    for name, path in (("--face-report", face_report), ("--fusion-report", fusion_report)):
        if not path.is_file():
            errors.print(f"[bold red]{name}[/]: no file at {path}; run from the repository or give its path")
            raise typer.Exit(1)
    for name, page in (("--markdown", markdown), ("--html", html)):
        if page is not None and not page.parent.is_dir():
            errors.print(f"[bold red]{name}[/]: the folder {page.parent} does not exist")
            raise typer.Exit(1)
    summary = programme_summary(Sources(calibrations or CALIBRATIONS_DIR, face_report, fusion_report), Settings())
    if markdown is None and html is None:
        _print_json(summary)
        return
    for path in write_pages(summary, markdown, html):
        console.print(f"wrote {path}")


@report_app.command("duplicates")
def report_duplicates(
    columns: Annotated[
        list[str],
        typer.Argument(
            help="NAME=REPORT: a column NAME from a `tessera eval lfw` report.json; the calibration is the "
            "registered one of the report's algorithm."
        ),
    ],
) -> None:
    """Duplicates a search misses out of 100, by gallery size: the table of docs/accuracy.md, as Markdown.

    Each figure is the false-non-match rate at the service's search threshold (settings'
    identify_expected_false_candidates), counted on the held-out people of the report's calibration
    check; the same definition as `tessera report programme`.
    """
    from tessera.evaluation.duplicates import duplicates_table
    from tessera.face.algorithms import face_algorithm
    from tessera.match.calibration import load_calibration

    loaded = []
    for column in columns:
        name, separator, path = column.partition("=")
        if not separator or not name or not Path(path).is_file():
            errors.print(f"[bold red]COLUMNS[/]: {column!r} is not NAME=REPORT with REPORT an existing report.json")
            raise typer.Exit(1)
        report = json.loads(Path(path).read_text(encoding="utf-8"))
        algorithm = report["tessera_eval"]["pipeline"]["algorithm"]
        loaded.append((name, load_calibration(face_algorithm(algorithm).calibration_file), report))
    typer.echo(duplicates_table(loaded, Settings().identify_expected_false_candidates), nl=False)


@app.command()
def erase(subject_id: str, data_dir: DataDir = None) -> None:
    """Withdraw consent: erase SUBJECT_ID for good and print the erasure receipt."""
    from tessera.workflows.subjects import erase_subject

    _print_json(_run(lambda: erase_subject(_open(data_dir, build_index=False), _actor(), subject_id)).as_dict())


@audit_app.command("verify")
def audit_verify(data_dir: DataDir = None) -> None:
    """Recompute the audit hash chain; exit code 1 if anything was edited, deleted or reordered."""
    from tessera.workflows.instance import AuditChainBroken, Instance

    try:
        instance = Instance.open(_settings(data_dir), build_index=False)
    except AuditChainBroken as error:  # the instance refuses to start on this chain; say what was found
        _print_json(error.check.as_dict())
        raise typer.Exit(1) from None
    check = instance.verify_audit()
    _print_json(check.as_dict())
    if not check.ok:
        raise typer.Exit(1)


@audit_app.command("acknowledge-restore")
def audit_acknowledge_restore(
    reason: Annotated[str, typer.Option(help="Why the older database is accepted (a ticket, the backup's date).")],
    data_dir: DataDir = None,
) -> None:
    """Accept that an older copy of the database was restored: audited, and the service starts again.

    The entry records what the anchor said, what the database holds, who and
    why; the entries the restore lost stay visible as a gap in the chain.
    """
    from tessera.governance.audit import read_anchor
    from tessera.workflows.instance import RestoreAcknowledgement

    if not reason.strip():
        raise typer.BadParameter("--reason is empty: say why the restore is accepted", param_hint="--reason")
    acknowledgement = RestoreAcknowledgement(actor=_actor(), reason=reason)
    instance = _run(lambda: _open(data_dir, build_index=False, acknowledge_restore=acknowledgement))
    anchor = read_anchor(instance.settings.audit_anchor_file)
    console.print(f"Restore acknowledged by {acknowledgement.actor} in audit entry {anchor[0] if anchor else '?'}.")


@audit_app.command("checkpoint")
def audit_checkpoint(
    out: Annotated[
        Path | None,
        typer.Option(help="Witness folder to write to (default: the audit_witness_dir setting); not in --data-dir."),
    ] = None,
    data_dir: DataDir = None,
) -> None:
    """Write a signed checkpoint of the audit chain's head (sequence, head hash, time) to a witness folder.

    Run it periodically (cron) to a folder the database's administrators cannot rewrite. With the
    audit_witness_dir setting, every start and every verification check the chain against the newest one.
    """
    from tessera.governance.witness import load_or_create_signing_key, write_checkpoint

    instance = _open(data_dir, build_index=False)
    folder = out or instance.settings.audit_witness_dir
    if folder is None:
        raise typer.BadParameter("give --out DIR or set audit_witness_dir", param_hint="--out")
    folder = folder.expanduser().resolve()
    if folder == instance.settings.data_dir or instance.settings.data_dir in folder.parents:
        raise typer.BadParameter(
            f"{folder} is inside the data folder: a restore would bring it back", param_hint="--out"
        )
    check = instance.verify_audit()
    if not check.ok:
        errors.print(f"[bold red]audit_chain_broken[/]: {'; '.join(check.problems)}", markup=True, highlight=False)
        raise typer.Exit(1)
    with instance.sessions() as session:
        seq, head = audit_head(session)
    key = load_or_create_signing_key(instance.settings.resolved_audit_witness_key_file)
    path = write_checkpoint(folder, seq, head, instance.clock(), key)
    console.print(f"Checkpoint of audit entry {seq} written to {path}.")


def audit_head(session) -> tuple[int, str]:
    """(seq, hash) of the newest audit entry, or (0, the genesis hash) for an empty log."""
    from sqlalchemy import select

    from tessera.governance.audit import GENESIS_HASH
    from tessera.store.models import AuditEntry

    newest = session.scalars(select(AuditEntry).order_by(AuditEntry.seq.desc()).limit(1)).first()
    return (newest.seq, newest.entry_hash) if newest is not None else (0, GENESIS_HASH)


def main() -> None:  # pragma: no cover - console entry point
    os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
    app()


bench_app = typer.Typer(
    help="Timings on this machine. Without a command: per-stage face pipeline timings and API latencies "
    "(the options below); `tessera bench index`: the 1:N index at scale.",
    invoke_without_command=True,
)
app.add_typer(bench_app, name="bench")


@bench_app.callback()
def bench(
    context: typer.Context,
    data: Annotated[Path, typer.Option(help="LFW folder (images/ and pairs files).")] = Path("../shared/data/face/lfw"),
    images: Annotated[int, typer.Option(help="Photos timed through the face pipeline.")] = 100,
    people: Annotated[int, typer.Option(help="People enrolled, verified and searched over HTTP.")] = 40,
    gallery: Annotated[
        int, typer.Option(help="Synthetic templates added to the index for the 1:N-at-scale figure.")
    ] = 10_000,
) -> None:
    """Print per-stage face pipeline timings and API latencies on this machine."""
    if context.invoked_subcommand is not None:
        return
    from tessera.bench import run_bench

    if not (data / "images").is_dir():
        errors.print(f"LFW not found at {data}: pass --data PATH to a folder holding images/")
        raise typer.Exit(1)
    run_bench(data, images=images, people=people, synthetic_gallery=gallery, console=console)


@bench_app.command("index")
def bench_index(
    n: Annotated[int, typer.Option("--n", min=1, help="Templates in the index, over every gallery.")] = 1_000_000,
    dim: Annotated[int, typer.Option(min=1, help="Embedding length.")] = 128,
    galleries: Annotated[int, typer.Option(min=1, help="Galleries the subjects are spread over.")] = 1,
    searches: Annotated[int, typer.Option(min=1, help="Probes searched (each also through plain numpy).")] = 50,
    limit: Annotated[int, typer.Option(min=1, help="Subjects asked for per search.")] = 100,
    batch: Annotated[int, typer.Option(min=1, help="Entries per upsert while building.")] = 50_000,
    seed: Annotated[int, typer.Option(help="Seed of the synthetic gallery and probes.")] = 0,
    backend: Annotated[
        str | None,
        typer.Option(
            help="Also measure Milvus, after the in-process index: 'milvus://host:port' or 'milvus-lite:PATH' "
            "(a fresh collection, prefix 'tesserabench', is filled with the same gallery)."
        ),
    ] = None,
    milvus_index: Annotated[str, typer.Option(help="Milvus vector index: FLAT (exact) or HNSW.")] = "FLAT",
    hnsw_m: Annotated[int, typer.Option(min=2, help="HNSW: edges per node (M).")] = 16,
    hnsw_ef_construction: Annotated[int, typer.Option(min=1, help="HNSW: candidates while building.")] = 200,
    hnsw_ef: Annotated[int, typer.Option(min=1, help="HNSW: candidates per search (>= 4 x limit).")] = 512,
    server_pid: Annotated[
        int | None, typer.Option(help="The Milvus server's process, to report its memory growth per template.")
    ] = None,
    skip_in_process: Annotated[
        bool, typer.Option("--skip-in-process", help="With --backend: measure Milvus only.")
    ] = False,
) -> None:
    """Time the in-process face index on synthetic embeddings beside plain numpy on the same matrix.

    Prints search p50/p95 of both and their ratio, memory per template, the
    build time and one search right after an upsert and after an erasure.
    With --backend, then the same gallery in Milvus, each search beside numpy:
    p50/p95 per consistency level, recall@10 against the exact answer, fill,
    index build and load times, and the server's memory per template.
    For timings free of other work, run it alone on the machine.
    """
    from tessera.bench_index import IndexBenchConfig, run_index_bench

    config = IndexBenchConfig(
        templates=n, dim=dim, galleries=galleries, searches=searches, limit=limit, batch=batch, seed=seed
    )
    if backend is None or not skip_in_process:
        run_index_bench(config, console=console)
    if backend is not None:
        from tessera.bench_milvus import MilvusBenchConfig, run_milvus_bench

        try:
            milvus = MilvusBenchConfig(
                backend=backend,
                index_type=milvus_index.upper(),
                hnsw_m=hnsw_m,
                hnsw_ef_construction=hnsw_ef_construction,
                hnsw_ef=hnsw_ef,
                server_pid=server_pid,
            )
            milvus.index_config()
        except ValueError as error:
            errors.print(str(error))
            raise typer.Exit(2) from error
        run_milvus_bench(config, milvus, console=console)


@app.command()
def load(
    data: Annotated[Path, typer.Option(help="LFW folder (images/).")] = Path("../shared/data/face/lfw"),
    people: Annotated[int, typer.Option(help="People enrolled; their second photos are the probes.")] = 24,
    requests: Annotated[int, typer.Option(help="Verify and identify requests per client at each level.")] = 3,
) -> None:
    """Load a throw-away server on 127.0.0.1 with 4, 8 and 16 clients: throughput, p50/p95/p99, 503s, errors.

    Exits with code 1 when any request failed (a 503 answered with Retry-After and retried is not a failure).
    """
    from rich.table import Table

    from tessera.load import peak_rss_mb, run_load

    if not (data / "images").is_dir():
        errors.print(f"LFW not found at {data}: pass --data PATH to a folder holding images/")
        raise typer.Exit(1)
    levels = run_load(data, people=people, requests_per_client=requests)
    table = Table(title="verify and identify over HTTP on 127.0.0.1 (ms)")
    for column in ("route", "clients", "ok", "req/s", "p50", "p95", "p99", "503", "errors"):
        table.add_column(column, justify="right")
    for level in levels:
        table.add_row(
            level.route,
            str(level.clients),
            str(len(level.latencies_ms)),
            f"{level.throughput:.2f}",
            *(f"{level.percentile(q):.0f}" for q in (50, 95, 99)),
            str(level.busy),
            str(len(level.errors)),
        )
    console.print(table)
    console.print(f"Peak resident memory of the server's process: {peak_rss_mb():.0f} MB")
    failures = [error for level in levels for error in level.errors]
    for failure in failures[:10]:
        errors.print(failure)
    if failures:
        raise typer.Exit(1)


@app.command()
def calibrate(
    data: Annotated[
        Path | None,
        typer.Option(
            help="Face: LFW folder (images/ and pairsDevTrain.txt), default ../shared/data/face/lfw. Finger: "
            "the folder holding fvc2004/, fvc2002_db1/ and neurotech_crossmatch/, default ../shared/data/finger."
        ),
    ] = None,
    out: Annotated[
        Path | None, typer.Option(help="Where to write the calibration file (default: the packaged one).")
    ] = None,
    workers: Annotated[int, typer.Option(help="Processes templating images.")] = 2,
    modality: Annotated[
        str,
        typer.Option(
            help="'face' (LFW pairsDevTrain), 'finger' (contact prints: FVC2004 DB1-4, FVC2002 DB1, CrossMatch), "
            "'contactless' (contactless_ds1 and phone_iiitd photos) or 'contactless-contact' (contactless photos "
            "against contact prints: the pair kind's own calibration)."
        ),
    ] = "face",
    scores_out: Annotated[
        Path | None,
        typer.Option(
            help="Finger only: where to write the genuine and impostor scores for fusion (default: next to the "
            "packaged calibration)."
        ),
    ] = None,
    algorithm: Annotated[
        str | None,
        typer.Option(
            help="Face only: the registered face algorithm to calibrate, with its own pipeline (default: dlib's, "
            "dlib-resnet-v1/5pt-flip/1); the file goes to its registered calibration_file unless --out is given."
        ),
    ] = None,
    exclude_label_errors: Annotated[
        bool,
        typer.Option(
            "--exclude-label-errors",
            help="Face only: leave LFW's documented label errors (identity pairs that are one person, "
            "tessera/evaluation/datasets/lfw_label_errors.csv) out of the impostor comparisons; the file records "
            "how many and why.",
        ),
    ] = False,
    allowance_pairs: Annotated[
        str | None,
        typer.Option(
            "--allowance-pairs",
            help="Face only: a pair file in --data (e.g. pairsDevTest.txt) whose people, disjoint from "
            "pairsDevTrain's, measure a held-out allowance the extrapolated tail is widened by (the Poisson upper "
            "bound of what they showed at the lowest checkable FMRs); recorded in the file, and `tessera eval lfw` "
            "then leaves them out of its held-out check.",
        ),
    ] = None,
    tail_choice: Annotated[
        str,
        typer.Option(
            "--tail-choice",
            help="Face only: which uncontradicted tail model is kept: 'best-predicting' (the smallest hold-out "
            "error) or 'heaviest' (the highest rates far out: an upper bound).",
        ),
    ] = "best-predicting",
) -> None:
    """Fit a score -> FMR calibration through the real pipeline (face: LFW pairsDevTrain.txt; finger: contact
    prints)."""
    if modality not in ("face", "finger", "contactless", "contactless-contact"):
        errors.print(
            f"[bold red]unknown modality[/] {modality!r}: choose face, finger, contactless or contactless-contact"
        )
        raise typer.Exit(2)
    if modality == "finger":
        calibration = _calibrate_finger(data or Path("../shared/data/finger"), out, scores_out, workers)
        title = "Contact finger calibration"
    elif modality == "contactless":
        calibration = _calibrate_contactless(data or Path("../shared/data/finger"), out, workers)
        title = "Contactless finger calibration"
    elif modality == "contactless-contact":
        calibration = _calibrate_cross_sensor(data or Path("../shared/data/finger"), out, workers)
        title = "Contactless probe against contact reference calibration"
    else:
        from tessera.evaluation.calibrate import calibrate_face_lfw
        from tessera.face.algorithms import FACE_ALGORITHMS
        from tessera.match.calibration import DEFAULT_FACE_CALIBRATION_PATH

        if algorithm is not None and algorithm not in FACE_ALGORITHMS:
            errors.print(
                f"[bold red]unknown face algorithm[/] {algorithm!r}: choose one of {', '.join(sorted(FACE_ALGORITHMS))}"
            )
            raise typer.Exit(2)
        data = data or Path("../shared/data/face/lfw")
        if not (data / "pairsDevTrain.txt").is_file():
            errors.print(f"LFW not found at {data}: pass --data PATH to a folder holding pairsDevTrain.txt and images/")
            raise typer.Exit(1)
        default_out = (
            DEFAULT_FACE_CALIBRATION_PATH if algorithm is None else FACE_ALGORITHMS[algorithm].calibration_file
        )
        from tessera.evaluation.cache import TemplateCache, algorithm_fingerprint, default_cache_dir
        from tessera.evaluation.datasets.label_errors import read_label_errors
        from tessera.match.calibration import CalibrationConfig
        from tessera.match.tail import TAIL_CHOICES

        if tail_choice not in TAIL_CHOICES:
            errors.print(f"--tail-choice: {tail_choice!r} is not one of {', '.join(TAIL_CHOICES)}")
            raise typer.Exit(2)
        label_errors = read_label_errors() if exclude_label_errors else None
        if allowance_pairs is not None and not (data / allowance_pairs).is_file():
            errors.print(f"--allowance-pairs: no pair file {allowance_pairs!r} in {data}")
            raise typer.Exit(1)
        key = algorithm_fingerprint(algorithm)["key"] if algorithm is not None else None
        cache = TemplateCache(default_cache_dir(), key) if key is not None else None
        calibration = calibrate_face_lfw(
            data,
            out or default_out,
            workers=workers,
            algorithm=algorithm,
            cache=cache,
            label_errors=label_errors,
            allowance_pairs_path=None if allowance_pairs is None else data / allowance_pairs,
            config=CalibrationConfig(tail_choice=tail_choice),
        )
        if cache is not None:
            cache.close()
        exclusions = calibration.data.get("impostor_exclusions")
        if exclusions is not None:
            console.print(
                f"Left out of the impostors: {exclusions['impostor_comparisons_left_out']:,} comparisons of "
                f"{exclusions['identity_pairs_present']} of the {exclusions['identity_pairs_listed']} identity pairs "
                f"listed in {exclusions['label_errors_file']} (LFW label errors: one person under two names, or one "
                "photo filed under two names)."
            )
        allowance = calibration.data.get("tail_allowance")
        if allowance is not None:
            console.print(
                f"Tail widened by a held-out allowance of {allowance['factor']:.3g}: measured on "
                f"{allowance['n_impostor']:,} impostor comparisons of {allowance['n_people']:,} people of "
                f"{allowance['pairs_file']} the fit never saw ({allowance['rule']})."
            )
        title = "Face calibration"
    table = Table(title=f"{title} ({calibration.n_impostor:,} impostor, {calibration.n_genuine:,} genuine comparisons)")
    for column in ("target FMR", "threshold", "basis", "FNMR"):
        table.add_column(column, justify="right")
    for target in (1e-2, 1e-3, 1e-4, 1e-5, 1e-6, 1e-7, 1e-8):
        try:
            threshold = calibration.threshold_for_fmr(target)
        except ValueError as error:  # FmrBeyondCalibration: the data cannot vouch for so low a rate
            table.add_row(f"{target:.0e}", "—", "beyond the data", str(error)[:40])
            continue
        estimate = calibration.fmr_at(threshold)
        table.add_row(f"{target:.0e}", f"{threshold:.4f}", estimate.basis, f"{calibration.fnmr_at(threshold):.2%}")
    console.print(table)


def _calibrate_finger(data: Path, out: Path | None, scores_out: Path | None, workers: int):
    from tessera.evaluation.calibrate import (
        DEFAULT_FINGER_CALIBRATION_PATH,
        DEFAULT_FINGER_SCORES_PATH,
        calibrate_finger,
    )

    if not (data / "fvc2004" / "index.csv").is_file():
        errors.print(
            f"fingerprint data not found at {data}: pass --data PATH to a folder holding fvc2004/, fvc2002_db1/ and "
            "neurotech_crossmatch/ (see ../shared/data/README.md)"
        )
        raise typer.Exit(1)
    try:
        calibration = calibrate_finger(
            data,
            out or DEFAULT_FINGER_CALIBRATION_PATH,
            scores_out or (DEFAULT_FINGER_SCORES_PATH if out is None else out.with_name(f"scores-{out.name}")),
            workers=workers,
        )
    except FileNotFoundError as error:
        errors.print(f"[bold red]cannot calibrate[/]: {error}")
        raise typer.Exit(1) from None
    console.print(f"FMR allowance (every stated rate is the table's times this): x{calibration.fmr_allowance:g}")
    for key, worst in calibration.data.get("leave_one_database_out", {}).get("worst", {}).items():
        if key.startswith("allowance@"):
            console.print(
                f"leave one database out, stated FMR {key.split('@')[1]}: worst measured / stated "
                f"{worst['every_database']} ({worst['worst_database']}), {worst['resolvable_only']} where measurable",
                markup=False,
            )
    return calibration


def _calibrate_contactless(data: Path, out: Path | None, workers: int):
    from tessera.evaluation.contactless import CONTACTLESS_CALIBRATION_PATH, calibrate_contactless
    from tessera.evaluation.fvc import default_cache_dir

    try:
        return calibrate_contactless(data, out or CONTACTLESS_CALIBRATION_PATH, default_cache_dir(), workers)
    except FileNotFoundError as error:
        errors.print(f"[bold red]fingerprint data not found[/]: {error}")
        raise typer.Exit(1) from None


def _calibrate_cross_sensor(data: Path, out: Path | None, workers: int):
    from tessera.evaluation.cross_sensor import calibrate_cross_sensor
    from tessera.evaluation.fvc import default_cache_dir
    from tessera.match.cross_sensor import CROSS_SENSOR_CALIBRATION_PATH

    try:
        calibration = calibrate_cross_sensor(data, out or CROSS_SENSOR_CALIBRATION_PATH, default_cache_dir(), workers)
    except FileNotFoundError as error:
        errors.print(f"[bold red]fingerprint data not found[/]: {error}")
        raise typer.Exit(1) from None
    console.print(
        f"FMR allowance x{calibration.fmr_allowance:g}; lowest FMR stated {calibration.min_fmr:.2g} (rule of three, "
        f"{calibration.n_impostor:,} impostor pairs); FNMR rests on {calibration.n_genuine} genuine pairs of one "
        "finger: an anecdote, not a rate"
    )
    return calibration


@app.command("eval")
def eval_dataset(
    dataset: Annotated[
        str,
        typer.Argument(
            help="Dataset adapter: 'lfw' (images/ and the pair files), 'lfw-limits' (the face quality gate's "
            "trade-off on LFW, see below), 'folder' (one folder per person), for "
            "fingers 'fvc', 'contactless', 'finger', 'finger-index' (1:N prefilter), 'finger-lodo' (contact "
            "calibration, leave one database out), 'fusion-lodo' (the finger fusion model, leave one database "
            "out), 'cross-sensor' (contactless photos against contact prints, lever "
            "by lever), 'fusion' (see below), or 'pad' (presentation-attack detection: "
            "--data the folder holding spoof_nuaa, orl and lfw)."
        ),
    ],
    data: Annotated[Path, typer.Option(help="The dataset's folder.")],
    out: Annotated[Path, typer.Option(help="Folder to write report.json, report.html and the figures into.")],
    labels: Annotated[
        Path | None,
        typer.Option(
            help="CSV of group labels: 'subject' or 'file', then attribute columns.", exists=True, dir_okay=False
        ),
    ] = None,
    workers: Annotated[int, typer.Option(help="Processes running the face pipeline.")] = 2,
    cache_dir: Annotated[
        Path | None,
        typer.Option(help="Template cache folder (default ~/.cache/tessera/eval; fingers: ~/.cache/tessera/fvc)."),
    ] = None,
    no_cache: Annotated[bool, typer.Option("--no-cache", help="Template every image again and store nothing.")] = False,
    bootstrap: Annotated[int, typer.Option(help="Bootstrap replicates for the 1:1 confidence intervals.")] = 500,
    seed: Annotated[int, typer.Option(help="Seed of the bootstrap and of the 1:N gallery split.")] = 0,
    bench_seconds: Annotated[
        float, typer.Option(help="Fingers: CPU seconds spent on each matcher speed measurement; 0 skips it.")
    ] = 3.0,
    algorithm: Annotated[
        str | None,
        typer.Option(
            help="Faces and fusion: the registered face algorithm to evaluate, with its own pipeline, calibration "
            "and fusion model (default: the first of the TESSERA_FACE_ALGORITHMS setting, yunet-sface-2021dec/1 "
            "unless set)."
        ),
    ] = None,
    exclude_label_errors: Annotated[
        bool,
        typer.Option(
            "--exclude-label-errors",
            help="Faces: leave LFW's documented label errors (identity pairs that are one person, "
            "tessera/evaluation/datasets/lfw_label_errors.csv) out of the calibration check's impostors; the "
            "report says how many comparisons and why.",
        ),
    ] = False,
    for_docs: Annotated[
        bool,
        typer.Option(
            "--for-docs",
            help="Fingers ('fvc', 'finger'): write only the copy kept in docs/accuracy/fvc: report.json (the 'fvc' "
            "part itself, a note in place of the phone photos' figure) and each database's figure; no phone_iiitd.png "
            "(research data: photos of people), no report.html, no scores.npz.",
        ),
    ] = False,
) -> None:
    """Run the real pipeline over a dataset and write an accuracy report (report.json, report.html).

    Faces: 'lfw' or 'folder'. 'lfw-limits': the face algorithm's quality gate, setting by setting (head-turn
    limits 20 to 45 degrees and none, each other limit relaxed or lifted), from one pass of the pipeline with the
    gate off: photos refused, View 2 accuracy and every-pair FNMR at FMR 1e-4, 1e-5, 1e-6, refusals counted and
    among accepted pairs (table, limits.json, limits.png).

    Fingers: 'fvc' (FVC2004-style databases, the FVC protocol and every
    cross-finger pair) or 'finger' (the folder holding them all, with the phone_iiitd photos); 'contactless'
    with --data the finger root: contactless_ds1 and phone_iiitd one finger at a time (FTA, score distributions,
    EER with its CI) and four at a time (the multi-finger rule at FMR 1e-3), the time per finger; 'finger-lodo'
    with --data the finger root: the contact calibration fitted on every contact database but one and its FMR
    measured on that one, at 1e-3 and 1e-4 (table and lodo.png); 'fusion-lodo' with --data the finger root: the
    finger fusion model fitted the same way, its fused FMR of one, two and four fingers measured on the database left
    out at 1e-3, 1e-4 and 1e-6 (table and fusion-lodo.png); 'cross-sensor' with --data the finger root:
    contactless photos against contact prints, each lever (polarity, mirror, rotation, ridge scale, distortion-tolerant
    MCC) one at a time and combined: genuine scores against the impostors of the pair kind, d' and the gap, and what
    the pair kind's calibration decides (table and cross-sensor.png). --labels, --bootstrap and --seed apply to
    faces only. Fusion: 'fusion' with --data
    the folder holding face/lfw and finger/ (chimeric subjects: LFW faces paired with FVC fingers; run
    'lfw' and 'finger' first so that their templates are cached). Finger 1:N prefilter: 'finger-index' with
    --data the folder holding the contact databases (penetration rate against FNIR, cost per search at
    100,000 and 1,000,000 fingers; writes report.json).
    """
    if for_docs and dataset not in FINGER_DATASETS:
        errors.print(f"[bold red]invalid option[/]: --for-docs applies to {' and '.join(FINGER_DATASETS)} only")
        raise typer.Exit(2)
    if dataset == "finger-index":
        _eval_finger_index(data, out, workers, cache_dir, no_cache)
        return
    if dataset in ("finger-lodo", "fusion-lodo", "contactless", "cross-sensor"):
        _eval_finger_calibration(dataset, data, out, workers, None if no_cache else cache_dir)
        return
    if dataset in FINGER_DATASETS:
        _eval_fingers(dataset, data, out, workers, cache_dir, no_cache, bench_seconds, for_docs)
        return
    if dataset == "fusion":
        _eval_fusion(data, out, workers, seed, algorithm)
        return
    if dataset == "lfw-limits":
        _eval_limits(data, out, workers, None if no_cache else cache_dir, algorithm)
        return
    if dataset == "pad":
        _eval_pad(data, out)
        return
    from tessera.evaluation.cache import default_cache_dir
    from tessera.evaluation.datasets import ADAPTERS
    from tessera.evaluation.datasets.label_errors import read_label_errors
    from tessera.evaluation.harness import EvaluationOptions, evaluate
    from tessera.face.algorithms import FACE_ALGORITHMS

    if dataset not in ADAPTERS:
        errors.print(
            f"[bold red]unknown dataset[/] {dataset!r}: choose one of {', '.join(sorted(ADAPTERS))} (faces) or "
            f"{', '.join(FINGER_DATASETS)} (fingers)"
        )
        raise typer.Exit(2)
    if workers < 1 or bootstrap < 0:
        errors.print(
            f"[bold red]invalid option[/]: --workers must be >= 1 (got {workers}) and --bootstrap >= 0 (got "
            f"{bootstrap})"
        )
        raise typer.Exit(2)
    if algorithm is not None and algorithm not in FACE_ALGORITHMS:
        errors.print(
            f"[bold red]unknown face algorithm[/] --algorithm {algorithm!r}: choose one of "
            f"{', '.join(sorted(FACE_ALGORITHMS))}"
        )
        raise typer.Exit(2)
    try:
        loaded = ADAPTERS[dataset](data)
    except (FileNotFoundError, ValueError, KeyError) as error:
        errors.print(f"[bold red]cannot read {dataset} dataset[/] at {data}: {error}")
        raise typer.Exit(1) from None
    options = EvaluationOptions(
        workers=workers,
        cache_dir=None if no_cache else (cache_dir or default_cache_dir()),
        labels=labels,
        replicates=bootstrap,
        seed=seed,
        label_errors=read_label_errors() if exclude_label_errors else None,
    )
    try:
        report = evaluate(loaded, out, options, algorithm=algorithm)
    except ValueError as error:
        errors.print(f"[bold red]evaluation failed[/]: {error}")
        raise typer.Exit(1) from None
    table = Table(
        title=f"{dataset}, {report['tessera_eval']['algorithm']}: {report['refusals']['images']:,} images, "
        f"{report['refusals']['refused']} refused"
    )
    table.add_column("measure")
    table.add_column("value", justify="right")
    if "lfw_view2" in report:
        view2 = report["lfw_view2"]
        table.add_row(
            "LFW View 2 accuracy (refused = error)", f"{view2['accuracy_mean']:.2%} ± {view2['accuracy_std']:.2%}"
        )
    verification = report["verification"]
    table.add_row("EER, every pair", f"{verification['eer']:.2%}")
    for key, value in verification["fnmr_at_fmr"].items():
        table.add_row(f"FNMR at FMR {key}, every pair", "not measurable" if value is None else f"{value:.2%}")
    for key, value in verification.get("without_label_errors", {}).get("fnmr_at_fmr", {}).items():
        shown = "not measurable" if value is None else f"{value:.2%}"
        table.add_row(f"FNMR at FMR {key}, every pair, listed label errors left out", shown)
    identification = report["identification"]
    table.add_row("1:N rank-1", f"{identification['rank1_identification_rate']:.2%}")
    table.add_row("calibration check", "passed" if report["calibration_check"]["passed"] else "FAILED")
    table.add_row(
        "seconds (templating, total)",
        f"{report['tessera_eval']['timing']['templating_seconds']}, "
        f"{report['tessera_eval']['timing']['total_seconds']}",
    )
    console.print(table)
    for sentence in report["what_these_numbers_mean"]:
        console.print(f"• {sentence}")
    console.print(f"Report: {out / 'report.html'}")


def _eval_finger_index(data: Path, out: Path, workers: int, cache_dir: Path | None, no_cache: bool) -> None:
    """``tessera eval finger-index``: penetration rate against FNIR and cost per search (docs/fingerprints.md)."""
    from tessera.evaluation.finger_index import evaluate_finger_index, write_finger_index_report
    from tessera.evaluation.fvc import default_cache_dir

    if workers < 1:
        errors.print(f"[bold red]invalid option[/]: --workers must be >= 1 (got {workers})")
        raise typer.Exit(2)
    try:
        report = evaluate_finger_index(data, None if no_cache else (cache_dir or default_cache_dir()), workers)
    except FileNotFoundError as error:
        errors.print(f"[bold red]no fingerprint data[/]: {error}; pass --data PATH to ../shared/data/finger")
        raise typer.Exit(1) from None
    path = write_finger_index_report(report, out)
    sizes = report["data"]
    table = Table(
        title=f"finger 1:N prefilter: gallery {sizes['gallery']} fingers, {sizes['probes']} mated searches "
        f"({', '.join(sizes['databases'])}; same position where known, {sizes['mean_gallery_searched']} fingers "
        f"searched on average); exact scan FNIR (rank 1) {report['exact_fnir_rank1']:.2%} "
        f"({report['exact_misses']} misses)"
    )
    for column in (
        "penetration rate",
        "mate in shortlist",
        "FNIR",
        "FNIR increase (95 % interval)",
        "lost / recovered",
    ):
        table.add_column(column, justify="right")
    for row in report["accuracy"]:
        low, high = row["fnir_increase_interval"]
        table.add_row(
            f"{row['penetration_rate']:.0%}",
            f"{row['mate_in_shortlist']:.2%}",
            f"{row['fnir']:.2%}",
            f"{row['fnir_increase']:+.2%} ({low:+.2%} to {high:+.2%})",
            f"{row['lost']} / {row['recovered']} of {row['searches']}",
        )
    console.print(table)
    for name, own in report["databases"].items():
        increases = ", ".join(f"{row['penetration_rate']:.0%} {row['fnir_increase']:+.2%}" for row in own["accuracy"])
        console.print(
            f"{name} alone ({own['gallery']} fingers, {own['probes']} searches): exact scan FNIR "
            f"{own['exact_fnir_rank1']:.2%}; FNIR increase at {increases}"
        )
    cost = report["cost"]
    costs = Table(title=f"CPU seconds per search, one core ({cost['measured']})")
    costs.add_column("gallery", justify="right")
    costs.add_column("exact scan", justify="right")
    rates = [key for key in cost["per_search_seconds"][0] if key.startswith("prefilter_")]
    for key in rates:
        costs.add_column(f"prefilter {float(key.split('_')[1]):.0%} + exact", justify="right")
    for row in cost["per_search_seconds"]:
        costs.add_row(f"{row['gallery']:,}", f"{row['exact_scan']:,}", *(f"{row[key]:,}" for key in rates))
    console.print(costs)
    memory = report["memory"]
    console.print(
        f"memory per template: MCC features {memory['template_features_bytes_per_template']:,} B, stacked again for "
        f"exact MCC {memory['exact_gallery_bytes_per_template']:,} B; prefilter code "
        f"{memory['code_bytes']:,} B kept + {memory['stacked_code_bytes']:,} B stacked"
    )
    console.print(f"Report: {path}")


FINGER_DATASETS = ("fvc", "finger")
"""``tessera eval`` datasets evaluated by :mod:`tessera.evaluation.fvc_report` rather than the face harness."""


def _eval_finger_calibration(dataset: str, data: Path, out: Path, workers: int, cache_dir: Path | None) -> None:
    """``tessera eval finger-lodo`` (:mod:`tessera.evaluation.finger_lodo`), ``fusion-lodo``
    (:mod:`tessera.evaluation.fusion_lodo`), ``cross-sensor`` and ``contactless``."""
    from tessera.evaluation.fvc import default_cache_dir

    if workers < 1:
        errors.print(f"[bold red]invalid option[/]: --workers must be >= 1 (got {workers})")
        raise typer.Exit(2)
    cache = cache_dir or default_cache_dir()
    try:
        if dataset == "finger-lodo":
            from tessera.evaluation.finger_lodo import write_lodo_report

            _print_lodo(write_lodo_report(data, out, cache, workers))
        elif dataset == "fusion-lodo":
            from tessera.evaluation.fusion_lodo import write_fusion_lodo_report

            _print_fusion_lodo(write_fusion_lodo_report(data, out, cache, workers))
        elif dataset == "cross-sensor":
            from tessera.evaluation.cross_sensor import write_cross_sensor_report

            _print_cross_sensor(write_cross_sensor_report(data, out, cache, workers))
        else:
            from tessera.evaluation.contactless import write_contactless_report

            _print_contactless(write_contactless_report(data, out, cache, workers))
    except FileNotFoundError as error:
        errors.print(f"[bold red]no fingerprint data[/]: {error}; pass --data PATH to ../shared/data/finger")
        raise typer.Exit(1) from None
    console.print(f"Report: {out / 'report.json'}")


def _print_lodo(report: dict) -> None:
    table = Table(title="Contact calibration, leave one database out: FMR measured on the database left out")
    for column in ("left out", "procedure", "stated FMR", "threshold", "measured FMR", "false matches", "ratio"):
        table.add_column(column, justify="right")
    for row in report["rows"]:
        measured = "—" if row.get("measured_fmr") is None else f"{row['measured_fmr']:.2e}"
        ratio = "—" if row.get("ratio") is None else f"{row['ratio']:.2f}" + ("" if row["resolvable"] else " *")
        table.add_row(
            row["held_out"],
            row["procedure"],
            f"{row['stated_fmr']:g}",
            "—" if row["threshold"] is None else f"{row['threshold']:.4f}",
            measured,
            f"{row.get('false_matches', '—')} of {row['n_impostor']:,}",
            ratio,
        )
    console.print(table)
    console.print("* the database left out has too few comparisons to measure that rate (fewer than 3 expected)")
    for key, worst in report["worst"].items():
        console.print(
            f"worst ratio {key}: {worst['every_database']} (every database; {worst['worst_database']}), "
            f"{worst['resolvable_only']} (where measurable)",
            markup=False,
        )
    console.print(f"Figure: {report['figure']}")


def _print_fusion_lodo(report: dict) -> None:
    factor = report["safety_factor"]
    table = Table(title=f"Finger fusion model, leave one database out (safety factor {factor:g} and 1)")
    for column in ("fingers", "fused FMR", "safety factor", "worst real database", "ratio", "where measurable", "DB4"):
        table.add_column(column, justify="right")

    def ratio(value: float | None) -> str:
        return "—" if value is None else f"{value:.2f}"

    for worst in report["worst"]:
        table.add_row(
            str(worst["fingers"]),
            f"{worst['target_fmr']:g}",
            f"{worst['safety_factor']:g}",
            worst["worst_real_database"] or "—",
            ratio(worst["real_databases"]),
            ratio(worst["resolvable_only"]),
            ratio(worst["synthetic_DB4"]),
        )
    console.print(table)
    console.print(
        "ratio: measured / stated fused FMR on the database left out; one finger counted, two and four fingers the "
        "held-out scores convolved (independence); where measurable: one finger with at least 3 false matches expected"
    )
    check = report["shipped_fit_reproduced"]
    console.print(f"the same fit on every real database reproduces the shipped model: {check['same_knots']}")
    console.print(f"Figure: {report['figure']}")


def _print_cross_sensor(report: dict) -> None:
    data = report["data"]
    table = Table(
        title=f"Contactless against contact: {data['contactless_images']} contactless images x "
        f"{data['contact_prints']} contact prints (genuine: one finger of one person)"
    )
    for column in ("lever", "genuine scores", "highest impostor", "99.9 %", "d'", "gap", "genuine / impostor"):
        table.add_column(column, justify="right")
    for row in report["levers"]:
        table.add_row(
            row["lever"],
            " ".join(f"{value:.3f}" for value in row["genuine_scores"]),
            f"{row['impostor_highest']:.3f}",
            f"{row['impostor_p999']:.3f}",
            f"{row['d_prime']:.2f}",
            f"{row['gap']:+.3f}",
            f"{row['n_genuine']} / {row['n_impostor']:,}",
        )
    console.print(table)
    calibration = report["calibration"]
    console.print(
        f"calibration of {report['shipped_lever']} (in sample): lowest FMR stated {calibration['lowest_fmr']:.2g}, "
        f"allowance x{calibration['fmr_allowance']:g}",
        markup=False,
    )
    for decision in calibration["decisions"]:
        if decision["threshold"] is None:
            console.print(f"  FMR {decision['target_fmr']:g}: {decision['decision']}", markup=False)
            continue
        console.print(
            f"  FMR {decision['target_fmr']:g}: threshold {decision['threshold']:.4f}, genuine accepted "
            f"{decision['genuine_accepted']} of {decision['n_genuine']}, impostor accepted "
            f"{decision['impostor_accepted']} of {decision['n_impostor']:,}",
            markup=False,
        )
    console.print(f"Figure: {report['figure']}")


def _print_contactless(report: dict) -> None:
    one, four, phone = report["per_finger"], report["four_fingers"], report["phone_iiitd"]
    table = Table(title=f"Contactless fingers: {report['data']['images']} images, {report['data']['fingers']} fingers")
    table.add_column("measure")
    table.add_column("value", justify="right")
    table.add_row("FTA (one finger)", f"{one['fta']:.1%} {one['refusals']}")
    low, high = one["eer_ci95"] or (None, None)
    table.add_row(
        "EER one finger [95 % CI]",
        f"{one['eer']:.2%} [{low:.2%}-{high:.2%}]" if low is not None else f"{one['eer']:.2%}",
    )
    table.add_row("comparisons (genuine / impostor)", f"{one['genuine_comparisons']} / {one['impostor_comparisons']:,}")
    table.add_row("lowest single-finger FMR stated", f"{one['lowest_single_finger_fmr']:.2e}")
    table.add_row("four fingers: per-finger threshold at 1e-3", str(four["per_finger_threshold"]))
    table.add_row("four fingers: stated FMR (basis)", f"{four['stated_fmr']} ({four['fmr_basis']})")
    table.add_row("four fingers: genuine accepted", f"{four['genuine_accepted']} of {four['genuine_probes']}")
    table.add_row("four fingers: impostor accepted", f"{four['impostor_accepted']} of {four['impostor_probes']}")
    table.add_row(
        "phone_iiitd genuine pairs at/above the 4-finger threshold",
        f"{phone['genuine_at_or_above_it']} of {phone['genuine_pairs']}",
    )
    table.add_row(
        "phone_iiitd impostor pairs at/above it", f"{phone['impostor_at_or_above_it']} of {phone['impostor_pairs']}"
    )
    timing = report["timing"]
    table.add_row(
        "CPU seconds per finger / four fingers",
        f"{timing['cpu_seconds_per_finger_mean']} / {timing['cpu_seconds_per_four_fingers']}",
    )
    slap = report.get("time_per_slap")
    if slap:
        table.add_row(
            "CPU seconds per slap photo -> four templates, mean / largest (target 3)",
            f"{slap['cpu_seconds_per_slap']} / {slap['cpu_seconds_per_slap_max']} "
            f"({', '.join(str(row['templates']) for row in slap['slaps'])} templates)",
        )
    dependence = report.get("dependence")
    if dependence:
        ratios = ", ".join(f"{row['single_fmr']:g}: x{row['ratio']}" for row in dependence["rows"])
        table.add_row("two fingers together, CrossMatch (joint / independent)", ratios)
    console.print(table)
    console.print(f"Figure: {report['figure']}")


def _eval_fingers(
    dataset: str,
    data: Path,
    out: Path,
    workers: int,
    cache_dir: Path | None,
    no_cache: bool,
    bench_seconds: float,
    for_docs: bool = False,
) -> None:
    """``tessera eval fvc|contactless|finger``: the fingerprint report (see :mod:`tessera.evaluation.fvc_report`)."""
    from tessera.evaluation.fvc import default_cache_dir
    from tessera.evaluation.fvc_report import FINGER_FOLDERS, has_finger_data, write_finger_report

    if workers < 1:
        errors.print(f"[bold red]invalid option[/]: --workers must be >= 1 (got {workers})")
        raise typer.Exit(2)
    if not has_finger_data(data):
        errors.print(
            f"[bold red]no fingerprint data[/] at {data}: pass --data PATH to ../shared/data/finger or one of "
            "its folders "
            f"({', '.join(FINGER_FOLDERS)}); see ../shared/data/README.md"
        )
        raise typer.Exit(1)
    report = write_finger_report(
        data,
        out,
        cache_dir=None if no_cache else (cache_dir or default_cache_dir()),
        workers=workers,
        bench_seconds=bench_seconds,
        say=lambda line: console.print(line, markup=False, highlight=False),
        for_docs=for_docs,
    )
    if dataset == "fvc" and "mean_eer_real" not in report and report["per_db"]:
        console.print(
            "(mean_eer_real needs FVC2004 DB1_B, DB2_B and DB3_B: pass --data to the fvc2004 folder or the finger root)"
        )
    console.print(f"Report: {out / ('report.json' if for_docs else 'report.html')}")


def _eval_fusion(data: Path, out: Path, workers: int, seed: int, algorithm: str | None = None) -> None:
    """``tessera eval fusion``: face + finger fusion on chimeric subjects (see
    :mod:`tessera.evaluation.fusion_eval`)."""
    from tessera.evaluation.fusion_eval import evaluate_fusion, load_fusion_data, summary_lines

    lfw, fingers = data / "face" / "lfw", data / "finger"
    if not (lfw / "images").is_dir() or not fingers.is_dir():
        errors.print(
            f"[bold red]no fusion data[/] at {data}: pass --data PATH to the folder holding face/lfw and "
            "finger/ (../shared/data)"
        )
        raise typer.Exit(1)
    try:
        loaded = load_fusion_data(lfw, fingers, workers=workers, algorithm=algorithm)
    except (FileNotFoundError, ValueError) as error:
        errors.print(f"[bold red]cannot load fusion data[/]: {error}")
        raise typer.Exit(1) from None
    report = evaluate_fusion(loaded, out, seed=seed)["fusion"]
    for line in summary_lines(report):
        console.print(line, markup=False, highlight=False)
    console.print(f"Report: {out / 'report.json'}")


def _eval_limits(data: Path, out: Path, workers: int, cache_dir: Path | None, algorithm: str | None) -> None:
    """``tessera eval lfw-limits``: the quality gate's trade-off (see :mod:`tessera.evaluation.quality_limits`)."""
    from tessera.evaluation.cache import default_cache_dir
    from tessera.evaluation.datasets import load_lfw
    from tessera.evaluation.quality_limits import TRADEOFF_FMRS, limits_tradeoff
    from tessera.face.algorithms import FACE_ALGORITHMS

    algorithm = algorithm or Settings().face_algorithms[0]
    if algorithm not in FACE_ALGORITHMS or workers < 1:
        errors.print(
            f"[bold red]invalid option[/]: --algorithm must be one of {', '.join(sorted(FACE_ALGORITHMS))} (got "
            f"{algorithm!r}) and --workers >= 1 (got {workers})"
        )
        raise typer.Exit(2)
    try:
        loaded = load_lfw(data)
    except (FileNotFoundError, ValueError, KeyError) as error:
        errors.print(f"[bold red]cannot read lfw dataset[/] at {data}: {error}")
        raise typer.Exit(1) from None
    try:
        report = limits_tradeoff(loaded, out, algorithm, workers=workers, cache_dir=cache_dir or default_cache_dir())
    except ValueError as error:
        errors.print(f"[bold red]evaluation failed[/]: {error}")
        raise typer.Exit(1) from None
    table = Table(
        title=f"{algorithm}: quality limits on LFW ({report['tessera_eval_limits']['dataset']['images']:,} photos)"
    )
    table.add_column("setting")
    table.add_column("refused", justify="right")
    table.add_column("View 2 (refused = error)", justify="right")
    for rate in TRADEOFF_FMRS:
        table.add_column(f"FNMR @ {rate:g}: counted / accepted", justify="right")
    table.add_column("targets met", justify="center")
    for row in report["settings"]:
        counted, accepted = row["fnmr_refusals_counted"], row["fnmr_accepted_pairs"]
        table.add_row(
            row["name"],
            str(row["refused"]),
            f"{row['view2_accuracy']:.2%} ± {row['view2_accuracy_std']:.2%}",
            *(f"{counted[key]:.2%} / {accepted[key]:.2%}" for key in counted),
            "yes" if row["meets_issue_targets"] else "no",
        )
    console.print(table)
    console.print(f"Report: {out / 'limits.json'}, figure: {out / report['figures']['limits']}")


def _eval_pad(data: Path, out: Path) -> None:
    """``tessera eval pad``: the ISO/IEC 30107-3 report (see :mod:`tessera.evaluation.pad_report`)."""
    from tessera.evaluation.pad_report import evaluate_pad, summary_lines

    needed = [data / "spoof_nuaa" / "labels.csv", data / "orl", data / "lfw" / "pairsDevTest.txt"]
    if missing := [str(path) for path in needed if not path.exists()]:
        errors.print(
            f"[bold red]no PAD data[/] at {data}: missing {', '.join(missing)}; pass --data the folder holding "
            "spoof_nuaa, orl and lfw (../shared/data/face)"
        )
        raise typer.Exit(1)
    report = evaluate_pad(data, out)
    for line in summary_lines(report):
        console.print(line, markup=False, highlight=False)
    console.print(f"Report: {out / 'report.json'}")


@app.command("bench-startup")
def bench_startup(
    n: Annotated[int, typer.Option("--n", min=1, help="Subjects seeded, one synthetic face template each.")] = 100_000,
    data_dir: Annotated[
        Path | None,
        typer.Option(help="Seed here and keep it (a folder seeded before is reused); default: a temporary folder."),
    ] = None,
) -> None:
    """Time a restart at N templates: rebuilding the indexes from the store, loading the index snapshot, and the
    service's start from the snapshot to its first /healthz answer."""
    from tessera.bench_startup import report, run_startup_bench, serve_report

    seeded, timings, served = run_startup_bench(n, data_dir)
    if seeded is not None:
        console.print(f"seeded {n:,} subjects with one face template each in {seeded:.1f} s")
    console.print(report(timings), markup=False, highlight=False)
    console.print(serve_report(served), markup=False, highlight=False)


# The list and show commands live in their own module, which builds on the helpers above.
from tessera.cli_lists import galleries_app, searches_app, subjects_app  # noqa: E402

app.add_typer(galleries_app, name="galleries")
app.add_typer(subjects_app, name="subjects")
app.add_typer(searches_app, name="searches")
