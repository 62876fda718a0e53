"""The model manifest: which local diffusers pipeline folder serves keyframes and clips, and how.

Read with the standard library only (no torch): ``is_configured`` runs before any GPU package is
imported. The format is documented in models/README.md; models/manifest.example.json is a sample.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from story2video.config import Settings
from story2video.errors import ConfigurationError

Stage = Literal["image", "video"]
STAGES: tuple[Stage, ...] = ("image", "video")
DTYPES = ("auto", "float16", "bfloat16", "float32")
_VARIANT = re.compile(r"[A-Za-z0-9_]+")
# diffusion_pytorch_model.fp16.safetensors, model.fp16-00001-of-00002.safetensors
_VARIANT_FILE = re.compile(r"\.([A-Za-z0-9_]+)(?:-\d+-of-\d+)?\.safetensors$")
_DEFAULT_MAX_BATCH: dict[Stage, int | None] = {"image": None, "video": 1}  # None: DIFFUSERS_MAX_BATCH decides


@dataclass(frozen=True)
class IpAdapterSpec:
    """An IP-Adapter the image pipeline loads beside its weights, so keyframes follow reference pictures.

    ``folder`` (relative to the manifest) holds ``subfolder/weight_name`` (safetensors with the
    ``image_proj.*`` and ``ip_adapter.*`` keys) and the CLIP vision encoder in ``image_encoder_folder``
    (a ``CLIPVisionModelWithProjection`` saved with ``save_pretrained``; a bare name is looked up under
    ``subfolder``, a path with a "/" under ``folder``), as diffusers' ``load_ip_adapter`` reads them.
    """

    folder: Path
    weight_name: str
    subfolder: str = ""
    image_encoder_folder: str = "image_encoder"
    scale: float = 0.6  # how strongly the references steer the picture (0: not at all)

    @property
    def encoder_path(self) -> Path:
        where = self.image_encoder_folder if "/" in self.image_encoder_folder else Path(self.subfolder, self.image_encoder_folder)
        return self.folder / where


@dataclass(frozen=True)
class ModelSpec:
    """One manifest entry, checked: its folder exists and holds the pipeline it claims."""

    name: str
    stage: Stage
    pipeline: str  # diffusers class name, e.g. StableDiffusionXLPipeline
    path: Path
    dtype: str = "auto"  # on CUDA; the CPU always runs float32
    variant: str | None = None  # weights saved as *.<variant>.safetensors (e.g. "fp16"): only those files are read
    steps: int = 30
    guidance: float | None = None  # None: the pipeline's own default
    width: int = 1024  # native size: generation keeps the request's aspect at this many pixels
    height: int = 1024
    size_multiple: int = 64
    max_batch: int | None = None
    max_frames: int = 25  # video only
    max_fps: int = 8  # video only
    negative_prompt: str = ""
    vae_tiling: bool = False  # decode in overlapping tiles: for sizes whose decode alone does not fit
    call_kwargs: dict[str, Any] = field(default_factory=dict)  # passed to the pipeline call as they are
    ip_adapter: IpAdapterSpec | None = None  # image only: reference pictures steer the keyframe

    @property
    def weights_key(self) -> tuple[str, ...]:
        """Entries with equal keys load the same pipeline (they may differ in steps, sizes...)."""
        return (str(self.path), self.pipeline, self.dtype, self.variant or "", str(self.vae_tiling), repr(self.ip_adapter))

    @property
    def entry_key(self) -> str:
        """Equal for equal entries (the dataclass is not hashable: ``call_kwargs`` is a dict)."""
        return repr(self)


@dataclass(frozen=True)
class Manifest:
    path: Path
    defaults: dict[Stage, str]
    entries: dict[str, dict[str, Any]]
    consistency: Path | None = None  # the CLIP-type model folder of the drift check (``"consistency": {"path": ...}``)


def read_manifest(path: Path) -> Manifest:
    """Parse the manifest file (entries are checked one by one in ``model_spec``)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigurationError(f"DIFFUSERS_MANIFEST={path} does not exist (see models/README.md)") from exc
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigurationError(f"DIFFUSERS_MANIFEST={path} is not readable JSON: {exc}") from exc
    if not isinstance(data, dict) or not isinstance(data.get("models"), dict):
        raise ConfigurationError(f"DIFFUSERS_MANIFEST={path} must be an object with a \"models\" object")
    defaults = {stage: data[stage] for stage in STAGES if isinstance(data.get(stage), str) and data[stage]}
    return Manifest(path=path, defaults=defaults, entries=data["models"], consistency=_consistency_folder(path, data.get("consistency")))


def _consistency_folder(path: Path, entry: Any) -> Path | None:
    if entry is None:
        return None
    if not isinstance(entry, dict) or not isinstance(entry.get("path"), str) or set(entry) - {"path"}:
        raise ConfigurationError(f'DIFFUSERS_MANIFEST={path}: "consistency" must be {{"path": "<CLIP model folder>"}}')
    folder = (path.parent / entry["path"]).resolve()
    if not (folder / "config.json").is_file():
        raise ConfigurationError(
            f'DIFFUSERS_MANIFEST={path}: "consistency" names {folder}, which holds no config.json (a CLIP model saved with save_pretrained)'
        )
    return folder


def consistency_folder(settings: Settings) -> Path | None:
    """The drift check's CLIP model folder named in the manifest; None without a manifest or the entry. No torch."""
    if not settings.diffusers_manifest.is_file():
        return None
    return read_manifest(settings.diffusers_manifest).consistency


def chosen_name(settings: Settings, stage: Stage, manifest: Manifest | None) -> str:
    """DIFFUSERS_<STAGE>_MODEL, else the manifest's default for the stage; '' when neither names one."""
    named = getattr(settings, f"diffusers_{stage}_model").strip()
    if named:
        return named
    return manifest.defaults.get(stage, "") if manifest is not None else ""


def is_configured(settings: Settings, stage: Stage) -> bool:
    """True when DIFFUSERS_<STAGE>_MODEL or the manifest names a model for ``stage`` ("image"/"video").

    Reads only the JSON file (no torch). A manifest that exists but is unreadable raises ConfigurationError.
    """
    manifest = read_manifest(settings.diffusers_manifest) if settings.diffusers_manifest.is_file() else None
    return bool(chosen_name(settings, stage, manifest))


def load_model_spec(settings: Settings, stage: Stage) -> ModelSpec:
    manifest = read_manifest(settings.diffusers_manifest)
    name = chosen_name(settings, stage, manifest)
    if not name:
        raise ConfigurationError(
            f"no diffusers {stage} model: set DIFFUSERS_{stage.upper()}_MODEL or \"{stage}\" in {manifest.path}"
        )
    return model_spec(manifest, name, stage)


def model_spec(manifest: Manifest, name: str, stage: Stage) -> ModelSpec:
    entry = manifest.entries.get(name)
    where = f"model '{name}' in {manifest.path}"
    if not isinstance(entry, dict):
        known = ", ".join(sorted(manifest.entries)) or "none"
        raise ConfigurationError(f"{where}: no such model (the manifest has: {known})")
    if entry.get("stage") != stage:
        raise ConfigurationError(f"{where} is for stage {entry.get('stage')!r}, not {stage!r}")
    try:
        spec = _spec_from_entry(manifest, name, stage, entry)
    except (TypeError, ValueError) as exc:
        raise ConfigurationError(f"{where}: {exc}") from exc
    _check_folder(spec, where)
    return spec


def _spec_from_entry(manifest: Manifest, name: str, stage: Stage, entry: dict[str, Any]) -> ModelSpec:
    unknown = set(entry) - set(ModelSpec.__dataclass_fields__) - {"stage"}
    if unknown:
        raise ValueError(f"unknown field(s) {', '.join(sorted(unknown))}")
    if not isinstance(entry.get("pipeline"), str) or not isinstance(entry.get("path"), str):
        raise TypeError('"pipeline" and "path" must be strings')
    values = {key: value for key, value in entry.items() if key not in ("stage", "path", "name", "ip_adapter")}
    values.setdefault("max_batch", _DEFAULT_MAX_BATCH[stage])
    if entry.get("ip_adapter") is not None:
        if stage != "image":
            raise ValueError('"ip_adapter" is for image models only')
        values["ip_adapter"] = _ip_adapter(manifest, entry["ip_adapter"])
    spec = ModelSpec(name=name, stage=stage, path=(manifest.path.parent / entry["path"]).resolve(), **values)
    _check_values(spec)
    return spec


def _ip_adapter(manifest: Manifest, entry: Any) -> IpAdapterSpec:
    if not isinstance(entry, dict) or not isinstance(entry.get("folder"), str) or not isinstance(entry.get("weight_name"), str):
        raise TypeError('"ip_adapter" must be an object with "folder" and "weight_name" strings')
    unknown = set(entry) - set(IpAdapterSpec.__dataclass_fields__)
    if unknown:
        raise ValueError(f"unknown ip_adapter field(s) {', '.join(sorted(unknown))}")
    spec = IpAdapterSpec(**{**entry, "folder": (manifest.path.parent / entry["folder"]).resolve()})
    if isinstance(spec.scale, bool) or not isinstance(spec.scale, (int, float)) or spec.scale < 0:
        raise ValueError(f"ip_adapter scale must be a number >= 0, not {spec.scale!r}")
    weights = spec.folder / spec.subfolder / spec.weight_name
    if not weights.is_file() or not spec.weight_name.endswith(".safetensors"):
        raise ValueError(f"ip_adapter weights {weights} do not exist (a .safetensors file is needed)")
    if not (spec.encoder_path / "config.json").is_file():
        raise ValueError(f"ip_adapter image encoder {spec.encoder_path} holds no config.json")
    return spec


def _check_values(spec: ModelSpec) -> None:
    if spec.dtype not in DTYPES:
        raise ValueError(f"dtype must be one of {', '.join(DTYPES)}, not {spec.dtype!r}")
    positive = {"steps": spec.steps, "width": spec.width, "height": spec.height, "size_multiple": spec.size_multiple,
                "max_frames": spec.max_frames, "max_fps": spec.max_fps}
    if spec.max_batch is not None:
        positive["max_batch"] = spec.max_batch
    for key, value in positive.items():
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{key} must be a positive integer, not {value!r}")
    if spec.guidance is not None and (isinstance(spec.guidance, bool) or not isinstance(spec.guidance, (int, float))):
        raise ValueError(f"guidance must be a number, not {spec.guidance!r}")
    if not isinstance(spec.call_kwargs, dict) or not isinstance(spec.negative_prompt, str):
        raise TypeError('"call_kwargs" must be an object and "negative_prompt" a string')
    if spec.variant is not None and not (isinstance(spec.variant, str) and _VARIANT.fullmatch(spec.variant)):
        raise ValueError(f"variant must be a name such as \"fp16\" or \"bf16\", not {spec.variant!r}")
    if not isinstance(spec.vae_tiling, bool):
        raise TypeError('"vae_tiling" must be true or false')


def _check_folder(spec: ModelSpec, where: str) -> None:
    """The folder must be a saved pipeline (``save_pretrained``) of the class the manifest names."""
    index = spec.path / "model_index.json"
    if not spec.path.is_dir():
        raise ConfigurationError(f"{where}: the folder {spec.path} does not exist (see models/README.md)")
    try:
        saved_class = json.loads(index.read_text(encoding="utf-8")).get("_class_name")
    except (OSError, json.JSONDecodeError, AttributeError) as exc:
        raise ConfigurationError(f"{where}: {index} is missing or unreadable; is this a diffusers pipeline folder?") from exc
    if saved_class != spec.pipeline:
        raise ConfigurationError(f"{where} says pipeline {spec.pipeline}, but {spec.path} holds a {saved_class}")
    _check_variant(spec, where)


def _check_variant(spec: ModelSpec, where: str) -> None:
    """The weights the entry asks for are there: ``*.<variant>.safetensors``, or plain ``*.safetensors``."""
    weights = [path.name for path in spec.path.glob("*/*.safetensors")]  # the components; not single-file checkpoints at the top
    variants = sorted({match.group(1) for name in weights if (match := _VARIANT_FILE.search(name))})
    if spec.variant is not None and spec.variant not in variants:
        found = f"variant(s) {', '.join(variants)}" if variants else "no variant files"
        raise ConfigurationError(f"{where}: \"variant\": \"{spec.variant}\", but {spec.path} holds {found}")
    plain = [name for name in weights if not _VARIANT_FILE.search(name)]
    if spec.variant is None and not plain and variants:
        raise ConfigurationError(
            f"{where}: {spec.path} holds only {', '.join(variants)} weights (*.{variants[0]}.safetensors); "
            f"add \"variant\": \"{variants[0]}\" to the entry"
        )
