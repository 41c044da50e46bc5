"""``tessera galleries|subjects|searches list|show``: what an instance holds, as tables, without biometric data.

Subjects are shown by number, programme id, gallery, modalities, consent
dates and status: never a template, a photo or a score. Every subject read
is audited as the API's (``subject.read``, ``subject.list``), under the
local operator ``cli:<user>``.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from tessera.cli import DataDir, _actor, _open, _run, console, errors

galleries_app = typer.Typer(help="Galleries: list and show.", no_args_is_help=True)
subjects_app = typer.Typer(help="Subjects (no biometric data): list and show.", no_args_is_help=True)
searches_app = typer.Typer(help="1:N searches and duplicate checks: list.", no_args_is_help=True)


def _on_off(flag: object) -> str:
    return "on" if flag else "off"


@galleries_app.command("list")
def galleries_list(data_dir: DataDir = None) -> None:
    """Every gallery: id, name, 1:N, duplicate check at enrolment, retention, subjects by status."""
    from tessera.workflows.galleries import list_galleries

    table = Table(title="Galleries")
    table.add_column("id", no_wrap=True)
    for heading in ("name", "1:N", "dedup", "retention (days)", "subjects", "closed"):
        table.add_column(heading)
    for gallery in list_galleries(_open(data_dir, build_index=False)):
        subjects = gallery["subjects"]
        assert isinstance(subjects, dict)
        counts = ", ".join(f"{count} {status}" for status, count in sorted(subjects.items())) or "0"
        table.add_row(
            str(gallery["id"]),
            str(gallery["name"]),
            _on_off(gallery["identification"]),
            _on_off(gallery["dedup_at_enrolment"]),
            str(gallery["retention_days"]),
            counts,
            "yes" if gallery["closed"] else "no",
        )
    console.print(table)


@galleries_app.command("show")
def galleries_show(gallery_id: str, data_dir: DataDir = None) -> None:
    """One gallery's settings and counts."""
    from tessera.workflows.galleries import list_galleries

    found = [g for g in list_galleries(_open(data_dir, build_index=False)) if g["id"] == gallery_id]
    if not found:
        errors.print(f"[bold red]gallery_not_found[/]: No gallery with id {gallery_id!r}.")
        raise typer.Exit(1)
    table = Table("setting", "value", title=str(found[0]["name"]))
    for name, value in found[0].items():
        table.add_row(name, str(value))
    console.print(table)


def _subject_table(records: list[dict[str, object]], title: str) -> Table:
    table = Table(title=title)
    table.add_column("number", no_wrap=True)
    for heading in ("external id", "gallery", "status", "consented", "enrolled", "signed", "expires"):
        table.add_column(heading)
    for record in records:
        table.add_row(
            str(record["number"]),
            str(record["external_id"] or ""),
            str(record["gallery_id"]),
            str(record["status"]),
            ",".join(record["modalities_consented"]),  # type: ignore[arg-type]
            ",".join(record["modalities_enrolled"]) or "-",  # type: ignore[arg-type]
            str(record["consent_signed_at"])[:10],
            str(record["consent_expires_at"])[:10],
        )
    return table


@subjects_app.command("list")
def subjects_list(
    gallery: Annotated[str | None, typer.Option(help="Only this gallery id.")] = None,
    external_id: Annotated[str | None, typer.Option(help="Only the subject with this programme id.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=200, help="At most this many, newest first.")] = 50,
    data_dir: DataDir = None,
) -> None:
    """The newest subjects: number, programme id, gallery, status, modalities, consent dates (audited)."""
    from tessera.workflows.subject_records import list_subjects

    instance = _open(data_dir, build_index=False)
    records = _run(lambda: list_subjects(instance, _actor(), gallery_id=gallery, external_id=external_id, limit=limit))
    console.print(_subject_table(records, f"Subjects ({len(records)})"))


@subjects_app.command("show")
def subjects_show(
    subject: Annotated[str, typer.Argument(help="The subject's number or id.")], data_dir: DataDir = None
) -> None:
    """One subject's record (audited)."""
    from tessera.workflows.subject_records import resolve_subject_id, show_subject

    instance = _open(data_dir, build_index=False)
    subject_id = _run(lambda: resolve_subject_id(instance, _actor(), subject, "subject.read"))
    record = _run(lambda: show_subject(instance, _actor(), subject_id))
    table = Table("field", "value", title=str(record["number"]))
    for name, value in record.items():
        table.add_row(name, ", ".join(value) if isinstance(value, list) else str(value or ""))
    console.print(table)


@searches_app.command("list")
def searches_list(
    gallery: Annotated[str | None, typer.Option(help="Only this gallery id.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=500, help="At most this many, newest first.")] = 50,
    data_dir: DataDir = None,
) -> None:
    """The newest 1:N searches and duplicate checks: id, gallery, case, purpose, when, status, by whom (no
    candidates)."""
    from tessera.workflows.adjudication import list_searches

    searches = list_searches(_open(data_dir, build_index=False), _actor(), gallery, limit)["searches"]
    table = Table(title="Searches")
    table.add_column("search id", no_wrap=True)
    for heading in ("gallery", "case", "purpose", "started", "status", "requested by"):
        table.add_column(heading)
    for search in searches:
        table.add_row(
            search["search_id"],
            search["gallery_id"],
            search["case_reference"],
            search["purpose"],
            search["started_at"][:19],
            search["status"],
            search["requested_by"],
        )
    console.print(table)
