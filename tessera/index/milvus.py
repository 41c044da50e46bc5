"""1:N face search in Milvus, behind the index contract (:mod:`tessera.index.base`).

One Milvus collection per face matcher (:func:`collection_name`), through
pymilvus's ``MilvusClient`` API only, so that the same code serves Milvus
Lite (a local file, for development), a standalone server and a cluster:

- rows are ``template_id`` (primary key), ``subject_id``, ``gallery_id``
  (the partition key on a server: a search only reads its gallery's
  partitions), ``purposes`` (an array), ``expires_us`` (consent expiry,
  POSIX microseconds) and ``vector``, the embedding rotated by its gallery's
  secret orthonormal matrix (:mod:`tessera.index.rotation`): the engine
  never holds a template Tessera made, yet inner products, hence cosine
  scores, are unchanged. A renewed rotation is named in ``gallery_id``
  (``<gallery>#<renewal>``, :func:`stored_gallery`), so that a probe is only
  ever compared with rows of its own rotation; :meth:`MilvusIndex.renew_rotation`
  moves a gallery's rows to a new rotation;
- the vector index is FLAT (exact, inner product) unless configured
  otherwise, so a search gives what a full scan gives;
- eligibility (purpose, consent expiry) is a filter expression the engine
  applies before its top-k, as the contract requires;
- the contract's subject-best and tie rules are applied here: a search asks
  for more rows than subjects (:data:`ROWS_PER_SUBJECT`), and asks again for
  more until every row that could change the answer is known (a cut inside a
  run of equal scores is never trusted);
- reads use Milvus's ``Session`` consistency: a search sees every insert this
  process made before it, and costs no more than ``Bounded`` when there was
  no recent write. Deletes are acknowledged before every reader sees them,
  so for :attr:`MilvusConfig.erased_filter_seconds` after an erasure this
  process's searches also leave the erased rows out by id: an erasure here is
  never followed by a hit of the erased person, at no Strong read's cost.
  Another process's erasures are seen within Milvus's staleness bound
  (its graceful time); :class:`MilvusConfig` can ask for ``Strong`` reads
  everywhere, at several times the latency (docs/scale.md);
- an erasure deletes the subject's rows, then starts a compaction so that
  the deleted vectors are physically rewritten out of the segments (at most
  one compaction in flight; one asked for meanwhile starts at the next change).

Only face (vector) matchers: fingers keep the in-process finger index (the ``finger_search`` setting).
"""

from __future__ import annotations

import hashlib
import re
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np

from tessera.index.base import APPROXIMATE_SEARCH, EXACT_SEARCH, FACE, FACE_PART, Hit, IndexEntry, check_entries_belong
from tessera.index.rotation import GalleryRotation

Rotations = Callable[[str, int], GalleryRotation]
"""``rotation(gallery_id, dimension)``: the gallery's current secret rotation
(:func:`tessera.workflows.rotation_renewal.gallery_rotations`)."""

MAX_TOPK = 16_384
"""The most rows one Milvus search returns (its ``topk`` limit)."""
ROWS_PER_SUBJECT = 4
"""A search first asks Milvus for this many rows per subject wanted (subjects may hold several templates)."""
UPSERT_CHUNK = 5_000
"""Rows per Milvus request (a request is applied whole; a batch larger than this, as in a rebuild, is sent in
chunks, each visible whole)."""

_SAFE_VALUE = re.compile(r"^[A-Za-z0-9_.:/-]{1,128}$")
"""Ids and purposes Tessera puts into filter expressions: no quote or backslash can reach the expression."""
_CONSISTENCY_LEVELS = ("Strong", "Session", "Bounded", "Eventually")


@dataclass(frozen=True)
class MilvusConfig:
    """How Tessera uses a Milvus deployment.

    Attributes
    ----------
    uri : str
        ``http://host:port`` of a server or cluster proxy, or the path of a
        Milvus Lite file (development only: Lite ignores consistency levels
        and partition keys).
    consistency : str
        Milvus consistency level of every read: ``Session`` (default: this
        process's own writes are seen), ``Strong``, ``Bounded`` or ``Eventually``.
    index_type, index_params
        The vector index: ``FLAT`` (exact) by default; an ANN index
        (``HNSW`` with ``{"M": 16, "efConstruction": 200}``...) trades recall
        for speed, measure it first (docs/scale.md).
    search_params : dict
        Parameters of an ANN index's search (``{"ef": 256}`` for HNSW); none for FLAT.
    partition_key : bool or None
        Make ``gallery_id`` the partition key (None: yes, except on Milvus Lite,
        which does not filter a partition-keyed collection).
    compact_after_erasure : bool
        Start a compaction after each erasure, so erased vectors leave the segments (not on
        Milvus Lite, which has no compaction).
    erased_filter_seconds : float
        For this long after an erasure, this process's searches also filter the
        erased rows out by id: Milvus acknowledges a delete before every reader
        sees it (a ``Bounded`` read may be up to its graceful time, 5 s by
        default, behind; measured here: about 0.2 s), and ``Session`` reads do
        not wait for deletes.
    rotation_generation : int
        Which rotation of every gallery is in use; renewing the rotations means a
        new generation, hence a new collection (:func:`collection_name`) filled from the store.
    collection_prefix : str
        Prefix of the collection names, so that several instances can share a deployment.
    """

    uri: str
    consistency: str = "Session"
    index_type: str = "FLAT"
    index_params: dict[str, Any] = field(default_factory=dict)
    search_params: dict[str, Any] = field(default_factory=dict)
    partition_key: bool | None = None
    compact_after_erasure: bool = True
    erased_filter_seconds: float = 30.0
    rotation_generation: int = 1
    collection_prefix: str = "tessera"

    def __post_init__(self) -> None:
        if self.consistency not in _CONSISTENCY_LEVELS:
            raise ValueError(f"consistency must be one of {_CONSISTENCY_LEVELS}; got {self.consistency!r}")
        if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]{0,63}", self.collection_prefix):
            raise ValueError(
                f"collection_prefix must be a letter then letters, digits or '_'; got {self.collection_prefix!r}"
            )

    @property
    def is_lite(self) -> bool:
        """Milvus Lite: a local file rather than a server's address."""
        return "://" not in self.uri

    @property
    def uses_partition_key(self) -> bool:
        return (not self.is_lite) if self.partition_key is None else self.partition_key


def collection_name(matcher: str, config: MilvusConfig) -> str:
    """The collection of ``matcher``'s templates: readable, and unique by a hash of the whole key.

    e.g. ``tessera_face_dlib_resnet_v1_5pt_flip_1_r1_3f2a9c1b`` (Milvus names
    allow letters, digits and ``_`` only).
    """
    readable = re.sub(r"[^A-Za-z0-9]+", "_", matcher).strip("_")[:120]
    digest = hashlib.sha256(matcher.encode()).hexdigest()[:8]
    return f"{config.collection_prefix}_{readable}_r{config.rotation_generation}_{digest}"


def stored_gallery(gallery_id: str, renewal: int) -> str:
    """The ``gallery_id`` column of a gallery's rows under a rotation: the gallery id for its first rotation,
    ``<gallery id>#<renewal>`` after a renewal (``#`` is not allowed in ids: no gallery can be mistaken for it)."""
    return gallery_id if renewal == 0 else f"{gallery_id}#{renewal}"


def _quoted(values: Iterable[str]) -> str:
    return ", ".join(f'"{value}"' for value in values)


def _micros(instant: datetime) -> int:
    if instant.tzinfo is None:
        raise ValueError(f"instants must be timezone-aware; got {instant!r}")
    return int(round(instant.timestamp() * 1_000_000))


@dataclass(frozen=True)
class _Row:
    score: float
    subject_id: str
    template_id: str


class MilvusIndex:
    """A :class:`~tessera.index.base.SearchIndex` of one face matcher's templates in one Milvus collection.

    Parameters
    ----------
    matcher : str
        A face matcher key (``face:<algorithm>``).
    client : pymilvus.MilvusClient
        Connected to the deployment of ``config.uri``.
    rotations : callable
        ``rotations(gallery_id, dimension)``: each gallery's secret rotation
        (:meth:`tessera.store.vault.Vault.template_rotation`).
    config : MilvusConfig
    """

    def __init__(self, matcher: str, client: Any, rotations: Rotations, config: MilvusConfig) -> None:
        if matcher.split(":", 1)[0] != FACE:
            raise ValueError(f"matcher must be a face matcher key ('face:...'); got {matcher!r}")
        self._matcher = matcher
        self._client = client
        self._rotations = rotations
        self._config = config
        self.collection = collection_name(matcher, config)
        self._lock = threading.Lock()
        self._dimension: int | None = self._existing_dimension()
        self._recently_erased: dict[str, float] = {}
        """Template id -> when this process deleted it (time.monotonic)."""
        self._compaction: int | None = None
        self._compaction_wanted = False

    @property
    def matcher(self) -> str:
        return self._matcher

    @property
    def config(self) -> MilvusConfig:
        return self._config

    @property
    def dimension(self) -> int | None:
        """The embeddings' length, once the collection exists."""
        return self._dimension

    # -- changes -------------------------------------------------------------------------------------------

    def upsert(self, entries: Sequence[IndexEntry[np.ndarray]]) -> None:
        """Add ``entries``, replacing those with the same ``template_id``; every entry is checked before any is sent."""
        checked: dict[str, tuple[IndexEntry[np.ndarray], np.ndarray]] = {}
        dimension = self._dimension
        for entry in entries:
            vector = self._checked(entry, dimension)
            dimension = vector.shape[0]
            checked[entry.template_id] = (entry, vector)  # the last of a repeated id wins, as applying in order would
        if not checked:
            return
        assert dimension is not None
        with self._lock:  # rotations are read under the lock: a renewal in this process is never half-seen
            galleries = {entry.gallery_id for entry, _ in checked.values()}
            rotations = {gallery: self._rotation(gallery, dimension) for gallery in galleries}
            batch = [
                {
                    "template_id": entry.template_id,
                    "subject_id": entry.subject_id,
                    "gallery_id": stored_gallery(entry.gallery_id, rotations[entry.gallery_id].renewal),
                    "purposes": sorted(entry.purposes),
                    "expires_us": _micros(entry.consent_expires_at),
                    "vector": (rotations[entry.gallery_id].matrix @ vector).astype(np.float32).tolist(),
                }
                for entry, vector in checked.values()
            ]
            if self._dimension is None:
                self._create_collection(dimension)
            for start in range(0, len(batch), UPSERT_CHUNK):
                chunk = batch[start : start + UPSERT_CHUNK]
                # Not Milvus's upsert: in Milvus 2.3 an upserted row of a partition-keyed collection is counted but
                # never found by a search of its partition. Replaced rows are deleted, then the batch inserted.
                held = self._client.query(
                    self.collection,
                    filter=f"template_id in [{_quoted(row['template_id'] for row in chunk)}]",
                    output_fields=["template_id"],
                    consistency_level="Strong",
                )
                if held:
                    self._client.delete(self.collection, ids=[row["template_id"] for row in held])
                self._client.insert(self.collection, chunk)
                for row in chunk:  # a template id inserted again is a new row: no longer one to filter out
                    self._recently_erased.pop(row["template_id"], None)
            self._compact_if_wanted()

    def remove_subject(self, subject_id: str) -> int:
        """Delete every row of ``subject_id`` (seen by this process's next search), then compact."""
        if self._dimension is None or not _SAFE_VALUE.match(subject_id):
            return 0
        return self._delete_where(f'subject_id == "{subject_id}"')

    def remove_templates(self, template_ids: Sequence[str]) -> int:
        """Delete the rows of ``template_ids`` (seen by this process's next search); the subject's others stay."""
        wanted = [t for t in dict.fromkeys(template_ids) if _SAFE_VALUE.match(t)]
        if self._dimension is None or not wanted:
            return 0
        return self._delete_where("template_id in [" + ", ".join(f'"{t}"' for t in wanted) + "]")

    def _delete_where(self, where: str) -> int:
        """Delete the rows ``where`` selects (ids checked against ``_SAFE_VALUE`` by the caller); how many."""
        with self._lock:
            held = self._client.query(
                self.collection, filter=where, output_fields=["template_id"], consistency_level="Strong"
            )
            if not held:
                return 0
            erased = [str(row["template_id"]) for row in held]
            self._client.delete(self.collection, ids=erased)
            # Until every reader surely sees the delete, searches also leave these rows out by id.
            self._recently_erased.update(dict.fromkeys(erased, time.monotonic()))
            self._compaction_wanted = self._config.compact_after_erasure
            self._compact_if_wanted()
            return len(erased)

    def renew_rotation(
        self,
        gallery_id: str,
        old: GalleryRotation,
        new: GalleryRotation,
        still_stored: Callable[[list[str]], set[str]] | None = None,
    ) -> int:
        """Move ``gallery_id``'s rows from rotation ``old`` to ``new``; the number of rows moved.

        ``still_stored(template_ids)`` names those of the given templates the store still holds: it is asked
        after each chunk is inserted, and the rows of the others are deleted again, so that a template erased
        while its row was moving is not brought back (an erasure commits in the store, then deletes from the
        index: if its delete came before the insert, this check comes after its commit).

        Each row's stored vector ``R_old v`` becomes ``R_new R_old^T (R_old v) = R_new v``: the template itself
        is never formed outside this product's float64 arithmetic, nor sent anywhere. Rows move a chunk at a
        time (deleted, then inserted under ``new``'s name, :func:`stored_gallery`), so an interrupted renewal
        is finished by running it again with the same two rotations. A compaction is then asked for, so that
        the copies under ``old`` leave the segments.

        This process's writes wait for it (the index's lock). Another process asks for the
        gallery's rotation at each search and write, so it follows the new one as soon as the caller makes it
        current; until every row has moved, its searches see only the rows already moved (docs/scale.md).
        """
        if old.renewal == new.renewal:
            raise ValueError(f"new must be another renewal than old; both are {old.renewal}")
        if self._dimension is None or not _SAFE_VALUE.match(gallery_id):
            return 0
        if old.matrix.shape != (self._dimension, self._dimension) or new.matrix.shape != old.matrix.shape:
            raise ValueError(
                f"rotations must be ({self._dimension}, {self._dimension}) like the indexed embeddings; "
                f"got {old.matrix.shape} and {new.matrix.shape}"
            )
        change = new.matrix @ old.matrix.T
        moved = 0
        with self._lock:
            while True:
                rows = self._client.query(
                    self.collection,
                    filter=f'gallery_id == "{stored_gallery(gallery_id, old.renewal)}"',
                    output_fields=["template_id", "subject_id", "purposes", "expires_us", "vector"],
                    limit=UPSERT_CHUNK,
                    consistency_level="Strong",
                )
                if not rows:
                    break
                vectors = change @ np.asarray([row["vector"] for row in rows], dtype=np.float64).T
                moved_rows = [
                    {
                        "template_id": row["template_id"],
                        "subject_id": row["subject_id"],
                        "gallery_id": stored_gallery(gallery_id, new.renewal),
                        "purposes": list(row["purposes"]),
                        "expires_us": int(row["expires_us"]),
                        "vector": vectors[:, column].astype(np.float32).tolist(),
                    }
                    for column, row in enumerate(rows)
                ]
                ids = [row["template_id"] for row in moved_rows]
                self._client.delete(self.collection, ids=ids)
                self._client.insert(self.collection, moved_rows)
                gone = sorted(set(ids) - still_stored(ids)) if still_stored is not None else []
                if gone:
                    self._client.delete(self.collection, ids=gone)
                    self._recently_erased.update(dict.fromkeys(gone, time.monotonic()))
                moved += len(ids) - len(gone)
            self._compaction_wanted = self._config.compact_after_erasure
            self._compact_if_wanted()
        return moved

    def compact(self) -> int | None:
        """Start a compaction of the collection now (erased rows are rewritten out); returns its job id, or None."""
        if self._dimension is None:
            return None
        with self._lock:
            self._compaction_wanted = True
            self._compact_if_wanted()
            return self._compaction

    def _compact_if_wanted(self) -> None:
        """Start the compaction asked for, unless one is in flight (then the next change starts it). Lock held."""
        if not self._compaction_wanted or self._config.is_lite:  # Milvus Lite has no compaction
            return
        if self._compaction is not None:
            state = str(self._client.get_compaction_state(self._compaction))
            if state not in ("Completed", "UndefiedState", "UndefinedState"):
                return
        self._compaction = int(self._client.compact(self.collection))
        self._compaction_wanted = False

    # -- searches ------------------------------------------------------------------------------------------

    def search_method(self, *, gallery_id: str, part: int, purpose: str, now: datetime) -> str:
        """``exact`` with the ``FLAT`` index type (every eligible vector scored), ``approximate`` with an ANN one."""
        return EXACT_SEARCH if self._config.index_type == "FLAT" else APPROXIMATE_SEARCH

    def search(
        self,
        probe: np.ndarray,
        *,
        gallery_id: str,
        part: int,
        purpose: str,
        now: datetime,
        limit: int,
        threshold: float | None = None,
    ) -> list[Hit]:
        """Best template per eligible subject, highest score first, at most ``limit``, none below ``threshold``."""
        if limit < 1:
            raise ValueError(f"limit must be at least 1, got {limit}")
        eligible = self._eligible(gallery_id, part, purpose, now)
        if eligible is None:
            return []
        where, rotation = eligible
        rotated = self._rotated_probe(probe, rotation)
        rows = max(ROWS_PER_SUBJECT * limit, 16)
        while True:
            found = self._search(rotated, where, min(rows, MAX_TOPK))
            complete = len(found) < min(rows, MAX_TOPK) or (threshold is not None and found[-1].score < threshold)
            kept = found if threshold is None else [row for row in found if row.score >= threshold]
            if complete:
                return _best_per_subject(kept)[:limit]
            # Every row scoring above the last one returned is known: subjects whose best is among them are
            # ranked for sure; the last score may continue in rows not returned, so it is not trusted.
            sure = _best_per_subject([row for row in kept if row.score > found[-1].score])
            if len(sure) >= limit:
                return sure[:limit]
            if rows >= MAX_TOPK:
                raise RuntimeError(
                    f"Milvus returns at most {MAX_TOPK} rows per search, and the best {MAX_TOPK} rows of gallery "
                    f"{gallery_id} hold fewer than {limit} subjects for sure; ask for fewer subjects"
                )
            rows *= 4

    def scores_for(
        self,
        probe: np.ndarray,
        *,
        gallery_id: str,
        part: int,
        subject_ids: Sequence[str],
        purpose: str,
        now: datetime,
    ) -> list[Hit]:
        """Best score of each listed subject that is present and eligible, highest first."""
        eligible = self._eligible(gallery_id, part, purpose, now)
        wanted = sorted({subject_id for subject_id in subject_ids if _SAFE_VALUE.match(subject_id)})
        if eligible is None or not wanted:
            return []
        where, rotation = eligible
        where += f" and subject_id in [{_quoted(wanted)}]"
        rotated = self._rotated_probe(probe, rotation)
        rows = min(max(ROWS_PER_SUBJECT * len(wanted), 16), MAX_TOPK)
        while True:
            found = self._search(rotated, where, rows)
            if len(found) < rows:
                return _best_per_subject(found)
            if rows >= MAX_TOPK:
                raise RuntimeError(
                    f"the {len(wanted)} subjects listed hold more than Milvus's {MAX_TOPK} rows per search; "
                    "list fewer subjects"
                )
            rows = min(rows * 4, MAX_TOPK)

    def size(self) -> int:
        """Rows held, eligible or not, in every gallery."""
        if self._dimension is None:
            return 0
        counted = self._client.query(
            self.collection, filter="", output_fields=["count(*)"], consistency_level="Strong"
        )  # rare (start-up, audit): exact rather than fast
        return int(counted[0]["count(*)"])

    def _search(self, rotated: list[float], where: str, rows: int) -> list[_Row]:
        answer = self._client.search(
            self.collection,
            data=[rotated],
            filter=where,
            limit=rows,
            output_fields=["subject_id"],
            search_params={"metric_type": "IP", "params": dict(self._config.search_params)},
            consistency_level=self._config.consistency,
        )
        return [
            _Row(float(np.clip(hit["distance"], -1.0, 1.0)), hit["entity"]["subject_id"], str(hit["id"]))
            for hit in answer[0]
        ]

    def _eligible(self, gallery_id: str, part: int, purpose: str, now: datetime) -> tuple[str, GalleryRotation] | None:
        """The filter of the rows a search may return and the gallery's rotation in use, or None when no row can be
        (unknown shard, purpose or id)."""
        if self._dimension is None or part != FACE_PART:
            return None
        if not _SAFE_VALUE.match(gallery_id) or not _SAFE_VALUE.match(purpose):
            return None  # no entry can hold such an id or purpose: upsert refuses them
        rotation = self._rotation(gallery_id, self._dimension)
        stored = stored_gallery(gallery_id, rotation.renewal)
        where = f'gallery_id == "{stored}" and array_contains(purposes, "{purpose}") and expires_us > {_micros(now)}'
        erased = self._still_visible_erasures()
        return (f"{where} and template_id not in [{_quoted(erased)}]" if erased else where), rotation

    def _still_visible_erasures(self) -> list[str]:
        """The template ids this process deleted within ``config.erased_filter_seconds``: a read may not see those
        deletes yet (Milvus serves a ``Bounded`` or ``Session`` read from a snapshot up to its graceful time old)."""
        if not self._recently_erased:
            return []
        with self._lock:
            since = time.monotonic() - self._config.erased_filter_seconds
            for template_id in [t for t, when in self._recently_erased.items() if when < since]:
                del self._recently_erased[template_id]
            return sorted(self._recently_erased)

    # -- what enters -------------------------------------------------------------------------------------------

    def _checked(self, entry: IndexEntry[np.ndarray], dimension: int | None) -> np.ndarray:
        """The entry's embedding as float64 (d,), or ValueError naming what is wrong (see the contract)."""
        check_entries_belong([entry], self._matcher)
        for name, value in (("template_id", entry.template_id), ("subject_id", entry.subject_id)):
            if not _SAFE_VALUE.match(value):
                raise ValueError(f"entry.{name} must be 1-128 characters among A-Z a-z 0-9 _ . : / -; got {value!r}")
        if not _SAFE_VALUE.match(entry.gallery_id):
            raise ValueError(
                f"entry.gallery_id must be 1-128 characters among A-Z a-z 0-9 _ . : / -; got {entry.gallery_id!r}"
            )
        for purpose in entry.purposes:
            if not _SAFE_VALUE.match(purpose):
                raise ValueError(
                    f"entry.purposes must be 1-128 characters among A-Z a-z 0-9 _ . : / -; got {purpose!r}"
                )
        vector = np.asarray(entry.features, dtype=np.float64)
        if vector.ndim != 1 or vector.shape[0] == 0:
            raise ValueError(f"features must be a 1-D embedding of shape (d,); got shape {vector.shape}")
        if dimension is not None and vector.shape[0] != dimension:
            raise ValueError(
                f"features must have the shape of the embeddings already indexed, ({dimension},); "
                f"got shape {vector.shape}"
            )
        norm = float(np.linalg.norm(vector))
        if not np.isfinite(norm) or abs(norm - 1.0) > 1e-3:
            raise ValueError(f"features must be a finite unit vector (norm 1 within 1e-3); got norm {norm:.6g}")
        return vector

    def _rotated_probe(self, probe: np.ndarray, rotation: GalleryRotation) -> list[float]:
        vector = np.asarray(probe, dtype=np.float64)
        assert self._dimension is not None
        if vector.shape != (self._dimension,):
            raise ValueError(
                f"probe must have shape ({self._dimension},) like the indexed embeddings; got {vector.shape}"
            )
        rotated: list[float] = (rotation.matrix @ vector).astype(np.float32).tolist()
        return rotated

    def _rotation(self, gallery_id: str, dimension: int) -> GalleryRotation:
        """The gallery's rotation in use, asked of ``rotations`` at every search and write (it keeps the matrices;
        asking each time is what lets a renewal made by another process be followed at once)."""
        return self._rotations(gallery_id, dimension)

    # -- the collection ------------------------------------------------------------------------------------

    def _existing_dimension(self) -> int | None:
        if not self._client.has_collection(self.collection):
            return None
        for described in self._client.describe_collection(self.collection)["fields"]:
            if described["name"] == "vector":
                return int(described["params"]["dim"])
        raise RuntimeError(f"Milvus collection {self.collection} has no 'vector' field: it was not made by Tessera")

    def _create_collection(self, dimension: int) -> None:
        from pymilvus import DataType, MilvusClient

        partition_key = self._config.uses_partition_key
        schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field("template_id", DataType.VARCHAR, is_primary=True, max_length=128)
        schema.add_field("subject_id", DataType.VARCHAR, max_length=128)
        schema.add_field("gallery_id", DataType.VARCHAR, max_length=128, is_partition_key=partition_key)
        schema.add_field("purposes", DataType.ARRAY, element_type=DataType.VARCHAR, max_capacity=16, max_length=128)
        schema.add_field("expires_us", DataType.INT64)
        schema.add_field("vector", DataType.FLOAT_VECTOR, dim=dimension)
        index = self._client.prepare_index_params()
        index.add_index(
            field_name="vector",
            index_type=self._config.index_type,
            metric_type="IP",
            params=dict(self._config.index_params),
        )
        self._client.create_collection(
            self.collection, schema=schema, index_params=index, consistency_level=self._config.consistency
        )
        self._dimension = dimension


def _best_per_subject(rows: Sequence[_Row]) -> list[Hit]:
    """Each subject's best row (equal scores: smallest template id), subjects by score, equal scores by id."""
    hits: list[Hit] = []
    seen: set[str] = set()
    for row in sorted(rows, key=lambda row: (-row.score, row.subject_id, row.template_id)):
        if row.subject_id not in seen:
            seen.add(row.subject_id)
            hits.append(Hit(row.subject_id, row.template_id, row.score))
    return hits


def milvus_config(setting: str) -> MilvusConfig:
    """The configuration a ``TESSERA_INDEX`` value names: ``milvus://host:port[/prefix]`` or ``milvus-lite:PATH``.

    ``prefix`` names this instance's collections (default ``tessera``), so
    that several instances can share one deployment.
    """
    if setting.startswith("milvus://"):
        found = re.fullmatch(r"([A-Za-z0-9.-]+:[0-9]{1,5})(?:/([A-Za-z][A-Za-z0-9_]{0,63}))?", setting[9:])
        if found is None:
            raise ValueError(f"index must be milvus://host:port or milvus://host:port/prefix; got {setting!r}")
        return MilvusConfig(uri=f"http://{found.group(1)}", collection_prefix=found.group(2) or "tessera")
    if setting.startswith("milvus-lite:") and setting.removeprefix("milvus-lite:"):
        return MilvusConfig(uri=setting.removeprefix("milvus-lite:"))
    raise ValueError(f"index must be 'milvus://host:port' or 'milvus-lite:PATH'; got {setting!r}")


def open_milvus_client(uri: str, *, attempts: int = 30, wait_seconds: float = 1.0) -> Any:
    """A ``MilvusClient`` of ``uri``; a server not answering yet is tried ``attempts`` times."""
    from pymilvus import MilvusClient

    for attempt in range(attempts):
        try:
            return MilvusClient(uri=uri)
        except Exception:  # pymilvus raises several kinds while a server starts
            if attempt == attempts - 1:
                raise
            time.sleep(wait_seconds)
    raise AssertionError("unreachable")
