# Bootstraps .venv from the pinned requirements, then runs the demo, the tests or the linters.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export PATH := $(CURDIR)/$(BIN):$(PATH)

# containers: the Ascend image (x86 or arm host) from an offline wheelhouse; the CPU image from a
# locally built base (docker/cpu/build-base.sh) and a host-made wheelhouse, no registry needed.
# ENGINE: podman if installed, else docker if its daemon answers, else podman (`make test-container`
# installs it); podman reads docker/containers.conf (runc, cgroupfs, the caller's ulimits).
ASCEND_ARCH ?= x86
ASCEND_PLATFORM_x86 := manylinux2014_x86_64
ASCEND_PLATFORM_arm := manylinux2014_aarch64
WHEELHOUSE := docker/wheelhouse
ifeq ($(origin ENGINE),undefined)
ENGINE := $(shell command -v podman >/dev/null 2>&1 && echo podman || { docker info >/dev/null 2>&1 && echo docker || echo podman; })
endif
IGNOREFILE = $(if $(filter podman,$(ENGINE)),--ignorefile $(1))
CPU_BASE ?= localhost/resnext-base:bookworm
CPU_IMAGE ?= resnext-cpu:latest
CPU_WHEELHOUSE := docker/wheelhouse-cpu
CONTAINERS_CONF ?= $(CURDIR)/docker/containers.conf
export CONTAINERS_CONF

.PHONY: demo test test-slow lint clean freeze chromium wheelhouse image-ascend container-tools wheelhouse-cpu \
	base-cpu image-cpu test-container slurm-tools test-slurm

$(STAMP): requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.txt
	$(BIN)/pip install --quiet --no-deps -e .
	touch $(STAMP)

demo: $(STAMP)
	snakemake --cores 8 all

# headless Chromium renders report.html in tests/report (Debian package; root on CI machines). apt
# waits up to 10 minutes for another apt/dpkg run (another make target, an unattended upgrade)
# instead of failing at once on its lock.
APT_GET := apt-get -o DPkg::Lock::Timeout=600
CHROMIUM := $(shell command -v chromium 2>/dev/null)
chromium:
	@test -n "$(CHROMIUM)" || { $(APT_GET) update -qq && $(APT_GET) install -y -qq chromium >/dev/null; }

test: $(STAMP) chromium
	$(BIN)/python -m pytest -q -m "not slow and not container and not slurm" tests

test-slow: $(STAMP)
	$(BIN)/python -m pytest -q -m "slow and not slurm" tests

# Debian's slurm-wlm + munge for the two-node cluster of tests/slurm (root; apt). Where they cannot be
# installed the slurm tests skip, naming what is missing.
slurm-tools:
	@command -v slurmctld >/dev/null 2>&1 || { $(APT_GET) update -qq && DEBIAN_FRONTEND=noninteractive \
		$(APT_GET) install -y -qq --no-install-recommends slurm-wlm munge >/dev/null; } \
		|| echo "slurm-wlm and munge could not be installed: the slurm tests will skip"

# the tests marked slurm: a two-node SLURM cluster on this machine (tests/slurm/cluster.sh; root)
test-slurm: $(STAMP) slurm-tools
	$(BIN)/python -m pytest -q -m slurm tests/slurm

# snakemake --lint, snakefmt and ruff (config in pyproject.toml), then the static checks of the modules
# that run in the Ascend container: Python 3.7 syntax, the TF 1.15 and npu_bridge APIs (the API
# checkers skip, naming what is missing, where they are absent; tests/test_static_checks.py)
lint: $(STAMP)
	snakemake --lint
	$(BIN)/snakefmt --check workflow
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/python -m pytest -q tests/test_static_checks.py

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

# podman, runc, debootstrap from apt when missing (root); with docker, bring your own engine
container-tools:
	$(if $(filter podman,$(ENGINE)),docker/host-tools.sh,command -v debootstrap >/dev/null)

# cp311/manylinux wheels of every pin, for an offline image build (docker/cpu/wheelhouse.sh)
$(CPU_WHEELHOUSE)/.complete: requirements.txt docker/cpu/wheelhouse.sh | $(STAMP)
	PIP=$(BIN)/pip docker/cpu/wheelhouse.sh requirements.txt $(CPU_WHEELHOUSE)
wheelhouse-cpu: $(CPU_WHEELHOUSE)/.complete

# debootstrap bookworm -> import as $(CPU_BASE), once (cached by name; rmi it to rebuild; root)
base-cpu: container-tools
	RESNEXT_ENGINE=$(ENGINE) docker/cpu/build-base.sh --if-missing $(CPU_BASE)

image-cpu: base-cpu wheelhouse-cpu
	$(ENGINE) build -f docker/cpu/Dockerfile $(call IGNOREFILE,docker/cpu/Dockerfile.dockerignore) \
		--build-arg BASE_IMAGE=$(CPU_BASE) -t $(CPU_IMAGE) .

# the demo's stages (resolve-config, demo-data, convert, train, evaluate, export) inside the CPU
# image, network off, results in a bind-mounted host folder checked on the host
test-container: image-cpu $(STAMP)
	RESNEXT_ENGINE=$(ENGINE) RESNEXT_CPU_IMAGE=$(CPU_IMAGE) $(BIN)/python -m pytest -q -m container tests/container
