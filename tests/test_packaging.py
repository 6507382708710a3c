"""The template's own packaging agrees with what a baked bundle needs."""

from __future__ import annotations

import importlib.util
import re
import sys

from conftest import DEFAULTS, TEMPLATE

BUNDLE = TEMPLATE / "{{cookiecutter.slug}}"
# The starting kit's one install line: the image's libraries that the notebook, the programs it runs and the baselines
# import (scipy too: the README names it among the image's), and what runs the notebook (`jupyter execute` is nbclient's).
KIT_IMAGE_LIBRARIES = {"numpy", "scipy", "pandas", "scikit-learn", "matplotlib"}
KIT_NOTEBOOK_TOOLS = {"nbclient", "ipykernel"}


def requirement_names(lines: list[str]) -> set[str]:
    return {re.split(r"[<>=!~ ]", line.strip(), maxsplit=1)[0].lower() for line in lines if line.strip() and not line.startswith("#")}


def specifiers(path) -> dict[str, str]:
    """A requirements file's version specifiers (">=1.26"), by lower-cased name."""
    lines = [line.strip() for line in path.read_text(encoding="utf-8").splitlines()]
    return {name.lower(): specifier for name, specifier in
            (re.fullmatch(r"([A-Za-z0-9._-]+)\s*(.*)", line).groups() for line in lines if line and not line.startswith("#"))}


def image_pins() -> dict[str, str]:
    """The default docker image's pinned versions (tools/images.py), by lower-cased name."""
    spec = importlib.util.spec_from_file_location("bundle_images", BUNDLE / "tools" / "images.py")
    images = sys.modules[spec.name] = importlib.util.module_from_spec(spec)  # its dataclass looks itself up there
    spec.loader.exec_module(images)
    return dict(pin.lower().split("==") for pin in images.IMAGES[DEFAULTS["_docker_image"]].requirements)


def test_template_test_extra_installs_every_bundle_requirement():
    pyproject = (TEMPLATE / "pyproject.toml").read_text(encoding="utf-8")
    extra = re.search(r"^test = \[(.*?)^\]", pyproject, re.S | re.M).group(1)
    template_needs = requirement_names(re.findall(r'"([^"]+)"', extra))
    bundle_needs = requirement_names((TEMPLATE / "{{cookiecutter.slug}}" / "requirements.txt").read_text().splitlines())
    assert bundle_needs <= template_needs, bundle_needs - template_needs


def test_readme_test_command_is_what_ci_runs():
    readme = (TEMPLATE / "README.md").read_text(encoding="utf-8")
    ci = (TEMPLATE / ".ci" / "run").read_text(encoding="utf-8")
    command = re.search(r"<!-- test-command -->\n```bash\n(.*?)\n```", readme, re.S).group(1)
    assert command.strip() in ci



def test_starting_kit_requirements_are_the_images_libraries_at_its_versions():
    """The kit's requirements.txt lists what the notebook needs, each of the image's libraries with the image's
    version (major.minor, as the bundle's own list words it) as its lower bound: a new pin in tools/images.py fails here."""
    kit, pins = specifiers(BUNDLE / "starting_kit" / "requirements.txt"), image_pins()
    assert set(kit) == KIT_IMAGE_LIBRARIES | KIT_NOTEBOOK_TOOLS
    for name in KIT_IMAGE_LIBRARIES:
        assert name in pins, f"{name} is not in {DEFAULTS['_docker_image']}"
        assert kit[name] == ">=" + ".".join(pins[name].split(".")[:2]), (name, kit[name], pins[name])


def test_starting_kit_and_bundle_requirements_agree_on_what_both_list():
    kit, bundle = specifiers(BUNDLE / "starting_kit" / "requirements.txt"), specifiers(BUNDLE / "requirements.txt")
    shared = set(kit) & set(bundle)
    assert KIT_NOTEBOOK_TOOLS <= shared  # the bundle's tests run the notebook with the same tools
    assert {name: kit[name] for name in shared} == {name: bundle[name] for name in shared}
