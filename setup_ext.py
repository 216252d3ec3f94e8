"""Build the Cython extensions in place (``make build``).

pyproject.toml builds them for a normal install; editable installs do not rebuild a changed
``.pyx``, so ``make`` calls this script explicitly.
"""

import warnings

from Cython.Build import cythonize
from setuptools import Extension, setup

# setuptools also reads pyproject.toml here and warns that its ext-modules table is
# experimental; that table serves `pip install`, this script serves `make`.
warnings.filterwarnings("ignore", message=r".*ext-modules.*experimental")

EXTENSIONS = [
    ("cext._router", ["cext/_router.pyx"]),
    ("cext._sipparse", ["cext/_sipparse.pyx"]),
]

setup(
    name="switchboard-ext",
    ext_modules=cythonize(
        [Extension(name, sources, extra_compile_args=["-O3"]) for name, sources in EXTENSIONS],
        language_level=3,
        quiet=True,
    ),
    script_args=None,
)
