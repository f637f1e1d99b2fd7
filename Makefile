# Bootstraps .venv from the pinned requirements, then runs the demo, the tests or the linters.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export PATH := $(CURDIR)/$(BIN):$(PATH)

# containers: the Ascend image (x86 or arm host) from an offline wheelhouse; the CPU image from a
# locally built base (docker/cpu/build-base.sh), no registry needed
ASCEND_ARCH ?= x86
ASCEND_PLATFORM_x86 := manylinux2014_x86_64
ASCEND_PLATFORM_arm := manylinux2014_aarch64
WHEELHOUSE := docker/wheelhouse
ENGINE ?= $(shell command -v podman >/dev/null 2>&1 && echo podman || echo docker)
IGNOREFILE = $(if $(filter podman,$(ENGINE)),--ignorefile $(1))
CPU_BASE ?= localhost/resnext-base:bookworm

.PHONY: demo test test-slow lint clean freeze wheelhouse image-ascend image-cpu test-container

$(STAMP): requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.txt
	$(BIN)/pip install --quiet --no-deps -e .
	touch $(STAMP)

demo: $(STAMP)
	snakemake --cores 8 all

test: $(STAMP)
	$(BIN)/python -m pytest -q -m "not slow" tests

test-slow: $(STAMP)
	$(BIN)/python -m pytest -q -m slow tests

# snakemake --lint, plus Python 3.7 syntax (vermin) and the TF 1.15 API (../shared/tools/check_tf115_api.py)
# over every module that runs in the Ascend container (tests/test_container_compat.py lists them)
lint: $(STAMP)
	snakemake --lint
	$(BIN)/python -m pytest -q tests/test_container_compat.py

freeze: $(STAMP)
	{ echo "# Host runtime, pinned (Python >= 3.11). Regenerate with: make freeze"; \
	  $(BIN)/pip freeze --exclude-editable | grep -v '^resnext'; } > requirements.txt

clean:
	rm -rf results .snakemake

# Python 3.7 wheels of the container's dependencies (npu_bridge, TF 1.15 and numpy are in the base
# image) plus this package, for `docker/ascend/Dockerfile` to install offline. pip evaluates
# dependency markers against *this* Python (3.11), so jsonschema's Python < 3.9 dependencies are
# listed by name; --python-version 3.7 still picks versions that support 3.7.
CONTAINER_WHEELS := "pyyaml>=5.1,<6.1" "jsonschema>=3.2,<4.18" importlib_metadata importlib_resources \
	pkgutil_resolve_name typing_extensions zipp
wheelhouse: $(STAMP)
	@test -n "$(ASCEND_PLATFORM_$(ASCEND_ARCH))" || { echo "ASCEND_ARCH must be x86 or arm"; exit 2; }
	mkdir -p $(WHEELHOUSE) && rm -f $(WHEELHOUSE)/*.whl
	$(BIN)/pip download --dest $(WHEELHOUSE) --only-binary=:all: --python-version 3.7 \
		--implementation cp --abi cp37m --platform $(ASCEND_PLATFORM_$(ASCEND_ARCH)) $(CONTAINER_WHEELS)
	$(BIN)/pip wheel --no-deps --no-build-isolation --wheel-dir $(WHEELHOUSE) .

image-ascend: wheelhouse
	$(ENGINE) build -f docker/ascend/Dockerfile $(call IGNOREFILE,docker/ascend/Dockerfile.dockerignore) \
		--build-arg ARCH=$(ASCEND_ARCH) -t resnext-ascend:latest .

image-cpu:
	@$(ENGINE) image inspect $(CPU_BASE) >/dev/null 2>&1 \
		|| { echo "no image $(CPU_BASE): run sudo docker/cpu/build-base.sh first"; exit 2; }
	$(ENGINE) build -f docker/cpu/Dockerfile $(call IGNOREFILE,docker/cpu/Dockerfile.dockerignore) \
		--build-arg BASE_IMAGE=$(CPU_BASE) -t resnext-cpu:latest .

# the test suite inside the CPU image (its own venv at /opt/venv; nothing downloaded at run time)
test-container: image-cpu
	$(ENGINE) run --rm resnext-cpu:latest python -m pytest -q -m "not slow" tests
