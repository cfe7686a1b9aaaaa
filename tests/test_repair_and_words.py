"""A broken cache can be repaired, weights errors say what helps, and the small things a careless
user meets are one line each."""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))

from hubtools import dead_endpoint, hub, hub_env, make_adapter  # noqa: E402,F401
from test_weights import VGG_FILE, md5, pin_vgg, vgg_reference  # noqa: E402,F401
from weights_http import serve  # noqa: E402

from zoo.backbone.weights import cache_dir  # noqa: E402


def errors(result) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.startswith("zoo: error:")]


# -- weights ---------------------------------------------------------------------------


def test_a_wrong_pinned_sha256_on_a_download_gives_both_hashes(vgg_reference, tmp_path, zoo):
    served = tmp_path / "served"
    served.mkdir()
    shutil.copy(vgg_reference["path"], served / VGG_FILE)
    actual = hashlib.sha256(vgg_reference["path"].read_bytes()).hexdigest()
    with serve(served) as base:
        pin_vgg(url=f"{base}/{VGG_FILE}", sha256_value="0" * 64)
        result = zoo("pull", "vgg16")
    assert result.exit_code == 1, result
    [line] = errors(result)
    assert f"sha256 is {actual}, expected {'0' * 64}; nothing was cached" in line
    assert "Incomplete or corrupted" not in result.stderr and not (cache_dir() / VGG_FILE).exists()


def test_a_weights_entry_without_url_says_where_to_put_the_file(zoo, monkeypatch, tmp_path):
    monkeypatch.setenv("ZOO_WEIGHTS_DIR", str(tmp_path / "mirror"))
    Path("registry.toml").write_text('[backbones.vgg16.weights.local]\nfile = "my-vgg16.h5"\n')
    result = zoo("train", "--backbone", "vgg16", "--weights", "local", "--dataset", "digits", "--image-size", "32")
    assert result.exit_code == 1, result
    [line] = errors(result)
    assert (f"put the file my-vgg16.h5 in a folder named by ZOO_WEIGHTS_DIR (now: {tmp_path / 'mirror'}) or in the "
            f"cache {cache_dir()} (nothing can download it: bring the file yourself)") in line
    assert "zoo pull" not in line


def test_zoo_info_says_when_a_cached_file_fails_its_pin(vgg_reference, zoo):
    pin_vgg(md5_value=md5(vgg_reference["path"]))
    cache_dir().mkdir(parents=True)
    (cache_dir() / VGG_FILE).write_bytes(b"not the weights")
    weights = json.loads(zoo("info", "vgg16", "--json").stdout)["weights"]["imagenet"]
    assert weights["cached"] is False and weights["verified"] is False
    assert weights["problem"].startswith(f"{cache_dir() / VGG_FILE} fails its pin (md5 is ")
    shutil.copy(vgg_reference["path"], cache_dir() / VGG_FILE)
    weights = json.loads(zoo("info", "vgg16", "--json").stdout)["weights"]["imagenet"]
    assert weights["cached"] is True and weights["verified"] is True and "problem" not in weights


# -- the Hub ---------------------------------------------------------------------------


def test_pull_force_repairs_a_damaged_cached_adapter(zoo, hub_env, monkeypatch, tmp_path):
    monkeypatch.setenv("HF_TOKEN", hub_env.tokens["alice"])
    run = make_adapter(tmp_path / "run", seed=4)
    pushed = zoo("push", "--no-full-model", str(run), "alice/repair")  # its ImageNet base weights are not here
    commit = pushed.stdout.split("@")[1].split()[0]
    ref = f"hf://alice/repair@{commit}"
    snapshot = Path(zoo("pull", ref).stdout.strip())
    (snapshot / "head.keras").resolve().write_bytes(b"flipped")  # the cached blob, damaged
    refused = zoo("evaluate", ref, "--dataset", "digits")
    assert refused.exit_code == 1 and errors(refused)[0].endswith(f"; `zoo pull --force {ref}` fetches it again")
    repaired = zoo("pull", "--force", ref)
    assert repaired.exit_code == 0, repaired
    assert (snapshot / "head.keras").read_bytes() == (run / "head.keras").read_bytes()
    assert zoo("pull", ref).exit_code == 0


def test_a_dead_hub_suggests_the_cache_only_when_there_is_a_copy(zoo, hub_env, monkeypatch, tmp_path):
    monkeypatch.setenv("HF_TOKEN", hub_env.tokens["alice"])
    pushed = zoo("push", "--no-full-model", str(make_adapter(tmp_path / "run", seed=5)), "alice/dead")
    assert pushed.exit_code == 0, pushed
    monkeypatch.setenv("HF_ENDPOINT", dead_endpoint())
    [never] = errors(zoo("pull", "hf://alice/never-pulled"))
    assert "cannot reach the Hub" in never and "HF_HUB_OFFLINE" not in never
    monkeypatch.setenv("HF_ENDPOINT", hub_env.url)
    assert zoo("pull", "hf://alice/dead").exit_code == 0
    monkeypatch.setenv("HF_ENDPOINT", dead_endpoint())
    [cached] = errors(zoo("pull", "hf://alice/dead"))
    assert cached.endswith(", or set HF_HUB_OFFLINE=1 to use the cached copy")


def test_pulling_an_empty_repository_is_one_line(zoo, hub_env, monkeypatch):
    from huggingface_hub import HfApi

    monkeypatch.setenv("HF_TOKEN", hub_env.tokens["alice"])
    HfApi(endpoint=hub_env.url, token=hub_env.tokens["alice"]).create_repo("alice/empty")
    result = zoo("pull", "hf://alice/empty")
    assert result.exit_code == 1, result
    assert result.stderr.count("\n") == 1 and errors(result)[0].startswith("zoo: error: ")


# -- small ones ----------------------------------------------------------------------


def test_uninstalling_what_is_not_installed_says_so(zoo):
    result = zoo("uninstall", "zoo-no-such-plugin")
    assert result.exit_code == 1
    assert result.stderr == ("zoo: error: zoo-no-such-plugin is not installed, so nothing was uninstalled; "
                             "`zoo plugins` shows the DISTRIBUTION of each plugin\n")


def test_an_image_over_the_pixel_limit_is_one_zoo_line(tmp_path, monkeypatch, zoo):
    from imagegen import make_shapes_folder

    data = make_shapes_folder(tmp_path / "shapes", per_class=3, size=32)
    Image.fromarray(np.zeros((200, 300, 3), np.uint8)).save(data / "circle" / "big.png")
    monkeypatch.setenv("ZOO_MAX_IMAGE_PIXELS", "50000")
    result = zoo("preview", f"folder:{data}", "--out", str(tmp_path / "grid.png"))
    assert result.exit_code == 0, result
    [line] = [line for line in result.stderr.splitlines() if "big.png" in line]
    assert line.endswith("big.png: 300x200 pixels, over the limit of 50,000 that guards against decompression "
                         "bombs; to read it, raise ZOO_MAX_IMAGE_PIXELS (0: no limit)")
    assert "DecompressionBomb" not in result.stderr
    monkeypatch.setenv("ZOO_MAX_IMAGE_PIXELS", "0")
    assert "big.png" not in zoo("preview", f"folder:{data}", "--out", str(tmp_path / "grid2.png")).stderr


def test_a_registry_entry_whose_source_is_missing_is_listed_as_unavailable(zoo):
    Path("registry.toml").write_text('[backbones.foo-net]\nsource = "nowhere"\nmodel = "x"\ninput_size = 32\n'
                                     'feature_dim = 8\n')
    result = zoo("list", "backbones", "foo")
    assert result.exit_code == 0, result
    assert result.stdout.splitlines()[-1] == ("unavailable: foo-net: needs backbone source 'nowhere', which no "
                                              "loaded plugin provides (see `zoo plugins`)")
    assert "foo-net" in result.stdout.splitlines()[1] and "unavailable" in result.stdout.splitlines()[1]
