"""The Docker images Codabench runs bundles in, and the Python packages each one provides.

The one place for this list: `make validate` warns about a program's import that the declared
`docker_image` lacks, and the template's CI builds its stand-in for codalab/codalab-legacy:py312
from the pins below. Read from the images' Dockerfiles (github.com/codalab/codalab-dockers,
Dockerfiles/Dockerfile-<tag>); `modules` are the top-level import names that the pinned packages
and what they pull in install. An image whose list is not complete (Anaconda's hundreds of
packages, a GPU image's framework dependencies) only tells what it surely has.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Image:
    python: str  # the `python3` on the image's PATH
    requirements: tuple[str, ...]  # what its Dockerfile pip-installs, pinned as there
    modules: frozenset[str]  # import names it provides beyond the standard library
    complete: bool = True  # False: more is installed than listed, so a missing name proves nothing

    def version(self, library: str) -> str | None:
        """The pinned version of `library` (its pip name, any case), or of Python for "python"; None when not listed."""
        if library == "python":
            return self.python
        pinned = {name.lower(): version for name, _, version in (r.partition("==") for r in self.requirements)}
        return pinned.get(library.lower())


_PIP = frozenset({"pip", "setuptools", "pkg_resources", "_distutils_hack", "wheel"})

IMAGES = {
    "codalab/codalab-legacy:py312": Image(
        python="3.12",
        requirements=(
            "Cython==3.0.12", "numpy==1.26.4", "scipy==1.11.4", "scikit-learn==1.5.1", "pandas==2.2.3",
            "pyyaml==6.0.2", "imutils==0.5.4", "numba==0.61.2", "threadpoolctl==3.6.0", "matplotlib==3.8.4",
            "psutil==7.0.0",
        ),
        modules=_PIP | frozenset({
            "Cython", "cython", "pyximport", "numpy", "scipy", "sklearn", "pandas", "yaml", "_yaml", "imutils",
            "numba", "llvmlite", "threadpoolctl", "matplotlib", "mpl_toolkits", "pylab", "psutil", "joblib",
            "dateutil", "pytz", "tzdata", "cloudpickle", "contourpy", "cycler", "fontTools", "kiwisolver",
            "packaging", "PIL", "pyparsing",
        }),
    ),
    "codalab/codalab-legacy:gpu310": Image(
        python="3.10",
        requirements=(
            "Cython==3.0.10", "numpy==1.26.4", "matplotlib==3.9.0", "seaborn==0.13.2", "scipy==1.14.0",
            "scikit-learn==1.5.0", "pandas==2.2.2", "PyYAML==6.0.1", "imutils==0.5.4", "opencv-python==4.10.0.84",
            "torch==2.3.1", "tensorflow==2.16.1", "tqdm==4.66.4", "psutil==6.0.0", "h5py==3.11.0", "jupyter==1.0.0",
        ),
        modules=_PIP | frozenset({
            "Cython", "numpy", "matplotlib", "seaborn", "scipy", "sklearn", "pandas", "yaml", "imutils", "cv2",
            "torch", "tensorflow", "keras", "tqdm", "psutil", "h5py", "jupyter", "joblib", "threadpoolctl",
        }),
        complete=False,
    ),
    "codalab/codalab-legacy:py39": Image(
        python="3.9",
        requirements=("theano==1.0.5", "Cython==0.29.30", "numpy==1.22.4", "scipy==1.8.1", "scikit-learn==1.1.1",
                      "pandas==1.4.2", "pyyaml==6.0", "imutils==0.5.4", "numba==0.55.2", "tensorflow==2.9.1"),
        modules=_PIP | frozenset({"theano", "Cython", "numpy", "scipy", "sklearn", "pandas", "yaml", "imutils",
                                  "numba", "tensorflow", "keras", "matplotlib", "joblib"}),
        complete=False,  # Anaconda3-2022.05 underneath
    ),
    "codalab/codalab-legacy:py37": Image(
        python="3.7",
        requirements=("numpy==1.17.2", "scipy==1.3.1", "scikit-learn==0.21.3", "pandas==0.25.0", "pyyaml==5.1"),
        modules=_PIP | frozenset({"numpy", "scipy", "sklearn", "pandas", "yaml", "theano", "tensorflow",
                                  "matplotlib", "joblib"}),
        complete=False,  # Anaconda3-2019.07 underneath
    ),
}


# Every tag of codalab/codalab-legacy that Docker Hub serves (codalab-dockers' Dockerfiles; codabench-facts §4),
# described above or not: a docker_image close to one of these, and not one, is probably misspelt.
PUBLISHED = tuple(f"codalab/codalab-legacy:{tag}" for tag in ("py3", "py37", "py39", "py312", "gpu", "gpu310"))


# What to do with an image that no registry the workers reach gives out.
PUBLISH_FIX = ("push it to a public registry (Docker Hub: `docker tag IMAGE you/name:tag && docker push you/name:tag`) "
               "and name that in competition.yaml, or use a published image such as codalab/codalab-legacy:py312")


def registry_of(image: str) -> str | None:
    """The registry an image name names (`ghcr.io`, `localhost:5000`), or None for a Docker Hub short name."""
    first, _, rest = image.partition("/")
    return first if rest and ("." in first or ":" in first or first.lower() == "localhost") else None


def requirements(image: str) -> str:
    """The image's pins, one line for pip (the template's CI builds its stand-in image with them)."""
    return " ".join(IMAGES[image].requirements)


if __name__ == "__main__":
    import sys

    print(requirements(sys.argv[1] if len(sys.argv) > 1 else "codalab/codalab-legacy:py312"))
