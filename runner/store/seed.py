"""A deterministic, realistic data set for any data model (`runner store seed`).

Titles and descriptions are made of real words, dates spread over years, every pool gets
objects, owners are the model's users, tags come from both kinds of group (at most one per
`choice` group), and a share of the objects with a `file` field get a real JPEG whose XMP,
IPTC and EXIF were written with pyexiv2 (for the metadata module). The same model, count,
seed and `now` always give the same records and the same files.

Design notes: records are yielded as fylr record dicts, ready for `Store.import_records`; the
JPEGs are encoded by Pillow and tagged by pyexiv2 one file at a time (pyexiv2 is not
thread-safe). Some objects with files are left without a title on purpose, and tagged
`imported` when the model has such a tag, so that a metadata task has work to do.
"""

from __future__ import annotations

import hashlib
import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from runner.spec.datamodel import DataModel, FieldDef, ObjectType

WORDS = (  # noqa: SIM905 (a word list reads better as text)
    "harbour boat sea river bridge tower castle garden forest meadow mountain valley lake "
    "island beach cliff lighthouse market square street station train tram bicycle festival "
    "concert theatre museum library school church cathedral chapel palace village city town "
    "winter spring summer autumn morning evening night sunrise sunset storm rain snow fog "
    "portrait family children crowd worker farmer fisherman dancer musician painter writer "
    "mayor minister visitor tourist student teacher doctor nurse architect engineer "
    "old new historic modern wooden stone glass golden silver red blue green white black "
    "quiet busy empty crowded ancient famous hidden distant northern southern eastern western "
    "opening ceremony parade exhibition conference meeting election protest celebration "
    "construction restoration harvest flood fire anniversary visit award competition match "
    "archive collection photograph document letter contract report map poster postcard "
    "view detail overview interior exterior aerial panorama close street-scene landscape"
).split()
FIRST_NAMES = "Anna Ben Clara David Eva Felix Greta Hugo Ida Jonas Karla Lukas Mia Noah".split()  # noqa: SIM905
LAST_NAMES = "Albers Brandt Claussen Dietrich Engel Fischer Graf Hoffmann Jansen Keller".split()  # noqa: SIM905
LANGUAGES = ("x-default", "de-DE")


@dataclass(frozen=True)
class SeedPlan:
    objects: int
    seed: int
    now: datetime
    files: int
    assets_dir: Path


@dataclass(frozen=True)
class SeedFile:
    """What a seeded JPEG carries, to build both the record and the embedded metadata."""

    title: str
    description: str
    keywords: list[str]
    creator: str
    copyright: str
    taken: datetime


def default_file_count(objects: int) -> int:
    """A fifth of the objects, at most 500: enough for metadata runs, fast to create."""
    return min(objects // 5, 500)


def generate(model: DataModel, plan: SeedPlan) -> Iterator[dict[str, Any]]:
    """The seeded records, in `_system_object_id` order, writing JPEGs as it goes."""
    rng = random.Random(plan.seed)
    pools = [pool.id for pool, _, _ in model.pool_entries()]
    with_files = [ot for ot in model.objecttypes if any(f.type == "file" for f in ot.fields)]
    per_type: dict[str, int] = {}
    files_left = plan.files
    for number in range(1, plan.objects + 1):
        objecttype = model.objecttypes[(number - 1) % len(model.objecttypes)]
        per_type[objecttype.name] = per_type.get(objecttype.name, 0) + 1
        # every pool gets objects: the first ones go round-robin over the pools
        pool = pools[(number - 1) % len(pools)] if number <= len(pools) * 2 else rng.choice(pools)
        has_file = objecttype in with_files and files_left > 0 and rng.random() < 0.5
        files_left -= has_file
        yield _record(
            model, objecttype, number, per_type[objecttype.name], pool, has_file, rng, plan
        )


def _record(
    model: DataModel,
    objecttype: ObjectType,
    number: int,
    ot_id: int,
    pool: int,
    has_file: bool,
    rng: random.Random,
    plan: SeedPlan,
) -> dict[str, Any]:
    created = plan.now - timedelta(days=rng.uniform(30, 365 * 8))
    modified = created + (plan.now - created) * rng.random() ** 3
    if rng.random() < 0.05:  # a few changed in the last week, for relative-date searches
        modified = plan.now - timedelta(hours=rng.uniform(1, 24 * 7))
    values = {f.name: _value(f, rng, plan.now) for f in objecttype.fields if f.type != "file"}
    values = {name: value for name, value in values.items() if value not in (None, [])}
    tags = _tags(model, objecttype, rng)
    if has_file:
        seeded = _seed_file(rng, created)
        file_fields = [f for f in objecttype.fields if f.type == "file"]
        values[file_fields[0].name] = write_jpeg(
            plan.assets_dir, objecttype.name, ot_id, seeded, rng
        )
        if rng.random() < 0.6:
            values = _blank_text(values, objecttype)
            tags = _with_imported(model, tags)
    if _imported_id(model) in tags:  # imports are recent: they are what review tasks look at
        modified = plan.now - timedelta(hours=rng.uniform(1, 24 * 14))
        created = min(created, modified)
    owner = rng.choice(model.users).id
    return {
        "_objecttype": objecttype.name,
        "_system_object_id": number,
        "_global_object_id": f"{number}@local",
        "_uuid": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        "_created": _iso(created),
        "_last_modified": _iso(modified),
        "_owner": {"user": {"_id": owner}},
        "_tags": [{"_id": tag} for tag in sorted(tags)],
        objecttype.name: {"_id": ot_id, "_version": 1, "_pool": {"pool": {"_id": pool}}, **values},
    }


def _iso(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def _value(field: FieldDef, rng: random.Random, now: datetime) -> Any:
    if field.multiple:
        return sorted({_single(field, rng, now) for _ in range(rng.randint(0, 4))}, key=str)
    if rng.random() < 0.08:  # some values are simply missing, as in real archives
        return None
    return _single(field, rng, now)


def _single(field: FieldDef, rng: random.Random, now: datetime) -> Any:
    kind = field.type
    if kind == "text":
        return _sentence(rng, 3, 12 if "desc" in field.name or "summary" in field.name else 6)
    if kind == "string":
        return _string_value(field.name, rng)
    if kind == "number":
        return rng.randint(1, 6000)
    if kind == "date":
        return (now - timedelta(days=rng.uniform(0, 365 * 30))).date().isoformat()
    return rng.random() < 0.5


def _string_value(name: str, rng: random.Random) -> str:
    if "email" in name:
        return f"{rng.choice(FIRST_NAMES).lower()}.{rng.choice(LAST_NAMES).lower()}@example.org"
    if "creator" in name or name == "name":
        return f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}"
    if "number" in name:
        return f"DOC-{rng.randint(1000, 99999)}"
    return rng.choice(WORDS)


def _sentence(rng: random.Random, low: int, high: int) -> str:
    words = [rng.choice(WORDS) for _ in range(rng.randint(low, high))]
    return " ".join(words).capitalize()


def _tags(model: DataModel, objecttype: ObjectType, rng: random.Random) -> set[int]:
    if not objecttype.has_tags:
        return set()
    chosen: set[int] = set()
    for group in model.tag_groups:
        if group.type == "choice":
            if rng.random() < 0.7:
                chosen.add(rng.choice(group.tags).id)
        else:
            chosen |= {tag.id for tag in group.tags if rng.random() < 0.15}
    return chosen


def _imported_id(model: DataModel) -> int | None:
    found = model.tags_by_reference.get("imported")
    return found[1].id if found else None


def _with_imported(model: DataModel, tags: set[int]) -> set[int]:
    found = model.tags_by_reference.get("imported")
    if found is None:
        return tags
    group, tag = found
    same_group = {t.id for t in group.tags} if group.type == "choice" else set()
    return (tags - same_group) | {tag.id}


def _blank_text(values: dict[str, Any], objecttype: ObjectType) -> dict[str, Any]:
    text = {f.name for f in objecttype.fields if f.type == "text"}
    return {k: v for k, v in values.items() if k not in text}


def _seed_file(rng: random.Random, created: datetime) -> SeedFile:
    creator = f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}"
    return SeedFile(
        title=_sentence(rng, 2, 5),
        description=_sentence(rng, 6, 14),
        keywords=sorted({rng.choice(WORDS) for _ in range(rng.randint(2, 6))}),
        creator=creator,
        copyright=f"(c) {created.year} {creator}",
        taken=created - timedelta(days=rng.uniform(0, 90)),
    )


def write_jpeg(
    assets_dir: Path, objecttype: str, ot_id: int, meta: SeedFile, rng: random.Random
) -> dict[str, Any]:
    """A small real JPEG with XMP, IPTC and EXIF; returns the record's file value."""
    relative = Path(objecttype) / f"{ot_id:07d}.jpg"
    path = assets_dir / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    _encode(path, rng)
    _embed(path, meta)
    data = path.read_bytes()
    return {
        "path": relative.as_posix(),
        "sha256": hashlib.sha256(data).hexdigest(),
        "size": len(data),
        "mime": "image/jpeg",
    }


def _encode(path: Path, rng: random.Random) -> None:
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (96, 64), tuple(rng.randrange(40, 220) for _ in range(3)))
    draw = ImageDraw.Draw(image)
    for _ in range(4):
        box = (
            sorted(rng.randrange(96) for _ in range(2)),
            sorted(rng.randrange(64) for _ in range(2)),
        )
        colour = tuple(rng.randrange(256) for _ in range(3))
        draw.rectangle((box[0][0], box[1][0], box[0][1], box[1][1]), fill=colour)
    image.save(path, "JPEG", quality=80)


def _embed(path: Path, meta: SeedFile) -> None:
    import pyexiv2  # type: ignore[import-untyped]

    german = f"{meta.title} (de)"
    with pyexiv2.Image(str(path)) as image:
        image.modify_xmp(
            {
                "Xmp.dc.title": {'lang="x-default"': meta.title, 'lang="de-DE"': german},
                "Xmp.dc.description": {'lang="x-default"': meta.description},
                "Xmp.dc.subject": meta.keywords,
                "Xmp.dc.creator": [meta.creator],
                "Xmp.dc.rights": {'lang="x-default"': meta.copyright},
                "Xmp.photoshop.DateCreated": meta.taken.strftime("%Y-%m-%dT%H:%M:%S"),
            }
        )
        image.modify_iptc(
            {
                "Iptc.Application2.ObjectName": meta.title[:64],
                "Iptc.Application2.Caption": meta.description[:2000],
                "Iptc.Application2.Keywords": meta.keywords,
                "Iptc.Application2.Byline": [meta.creator],
                "Iptc.Application2.Copyright": meta.copyright,
            }
        )
        image.modify_exif(
            {
                "Exif.Image.Artist": meta.creator,
                "Exif.Image.ImageDescription": meta.title,
                "Exif.Image.Copyright": meta.copyright,
                "Exif.Photo.DateTimeOriginal": meta.taken.strftime("%Y:%m:%d %H:%M:%S"),
            }
        )
