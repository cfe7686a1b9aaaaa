"""``kerashub:PRESET`` to a reference and an ad-hoc backbone spec, without touching the network.

A PRESET is ``hf://OWNER/REPO[@REV]`` (REV a commit sha or a branch), ``kaggle://...``, a
local preset folder, or a KerasHub preset name (``resnet_50_imagenet``). The ad-hoc spec
leaves what only the files tell (input size, preprocessing: ``auto``, stages) to be filled
in when they are fetched (:func:`zoo_kerashub.fetch.pin`); its ``feature_dim`` is 0, known
once the model is built.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from pathlib import Path

from zoo.api import BackboneSpec, UsageError

HF = "hf://"
KAGGLE = "kaggle://"
REPO_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*$")
COMMIT = re.compile(r"^[0-9a-f]{40}$")
PRESET_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]*$")
EXTRA = "pip install 'zoo[kerashub]'"
AUTO = "auto"  # preprocessing decided by the preset's files when they are fetched


@dataclass(frozen=True)
class PresetRef:
    """Where a preset lives: ``kind`` is ``hf``, ``kaggle``, ``local`` or ``name``."""

    kind: str
    location: str  # repo id, Kaggle handle, absolute folder, or KerasHub preset name
    revision: str = ""  # hf only: a commit sha or a branch, as written after '@'

    @property
    def model(self) -> str:
        """The spec's ``model``: the preset without a pinned commit (that goes to ``hub_revision``)."""
        if self.kind == "hf":
            branch = "" if not self.revision or COMMIT.match(self.revision) else f"@{self.revision}"
            return f"{HF}{self.location}{branch}"
        if self.kind == "kaggle":
            return f"{KAGGLE}{self.location}"
        return self.location


def parse_preset(text: str) -> PresetRef:
    """A PRESET string to a :class:`PresetRef`; a malformed one is a usage error naming it."""
    text = text.strip()
    if text.startswith(HF):
        repo, _, revision = text[len(HF):].partition("@")
        if not REPO_ID.match(repo):
            raise UsageError(f"KerasHub preset {text}: write hf://OWNER/REPO[@REVISION]")
        if "@" in text[len(HF):] and not re.match(r"^[A-Za-z0-9._/-]+$", revision):
            raise UsageError(f"KerasHub preset {text}: the revision after '@' must be a commit sha or a branch")
        return PresetRef("hf", repo, revision)
    if text.startswith(KAGGLE):
        handle = text[len(KAGGLE):]
        if len(handle.split("/")) not in (4, 5):
            raise UsageError(f"KerasHub preset {text}: write kaggle://OWNER/MODEL/keras/VARIANT[/VERSION]")
        return PresetRef("kaggle", handle)
    if "://" in text:
        raise UsageError(f"KerasHub preset {text}: zoo reads hf:// and kaggle:// presets, local folders and "
                         "KerasHub preset names")
    path = Path(text).expanduser()
    if path.exists() or "/" in text or text.startswith("."):
        if not path.is_dir():
            raise UsageError(f"KerasHub preset {text}: no such folder")
        if not (path / "config.json").is_file():
            raise UsageError(f"KerasHub preset {text}: the folder has no config.json; give a folder written by "
                             "save_to_preset, or a timm / transformers checkpoint folder")
        return PresetRef("local", str(path.resolve()))
    if not PRESET_NAME.match(text):
        raise UsageError(f"KerasHub preset {text!r}: not a preset name, folder, hf:// or kaggle:// handle")
    return PresetRef("name", text)


def preset_of(spec: BackboneSpec) -> PresetRef:
    """The reference a spec's ``model`` names, with its pinned commit when the spec has one."""
    ref = parse_preset(spec.model)
    if ref.kind == "hf" and spec.hub_revision:
        return PresetRef("hf", ref.location, spec.hub_revision)
    return ref


def cached_snapshot(ref: PresetRef) -> Path | None:
    """The HF cache's copy of an hf:// preset at its revision (or ``main``), found without the network."""
    from zoo_kerashub.hubaccess import cache_dir

    repo = cache_dir() / ("models--" + ref.location.replace("/", "--"))
    revision = ref.revision or "main"
    if not COMMIT.match(revision):
        try:
            revision = (repo / "refs" / revision).read_text().strip()
        except OSError:
            return None
    folder = repo / "snapshots" / revision
    return folder if (folder / "config.json").is_file() else None


def spec_for_preset(argument: str) -> BackboneSpec:
    """``kerashub:PRESET`` -> a spec; checks only the form (and that a local folder exists).

    A local folder, or an hf:// preset already in the HF cache, is described from its
    files (plain JSON, so ``zoo info`` stays fast); otherwise that waits for the fetch.
    """
    from zoo_kerashub.fetch import require_keras_hub

    spec = _adhoc_spec(argument)
    require_keras_hub(spec.name)  # cheap (no import), and before anything else is done
    ref = parse_preset(argument)
    folder = Path(ref.location) if ref.kind == "local" else (cached_snapshot(ref) if ref.kind == "hf" else None)
    if folder is None:
        return spec
    from zoo_kerashub.formats import describe_folder

    facts = describe_folder(folder, f"backbone '{spec.name}'")
    return dataclasses.replace(spec, input_size=facts.input_size or spec.input_size, fixed_size=facts.fixed_size,
                               min_input_size=facts.min_input_size, preprocessing=facts.preprocessing or AUTO,
                               stages=facts.stages, description=f"{facts.kind} {facts.architecture} "
                               f"(from {'the HF cache' if ref.kind == 'hf' else 'its folder'}); feature size known "
                               "once built")


def _adhoc_spec(argument: str) -> BackboneSpec:
    ref = parse_preset(argument)
    pinned = ref.revision if ref.kind == "hf" and COMMIT.match(ref.revision) else ""
    return BackboneSpec(
        name=f"kerashub:{argument.strip()}" if ref.kind != "local" else f"kerashub:{ref.location}",
        source="kerashub",
        model=ref.model,
        input_size=224,
        min_input_size=32,
        feature_dim=0,
        preprocessing=AUTO,
        default_weights="builtin",
        base_model=ref.location if ref.kind == "hf" else "",
        hub_revision=pinned,
        description="KerasHub preset given on the command line; input size, preprocessing and stages "
                    "come from its files when they are fetched, the feature size once built",
    )
