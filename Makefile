# The two set-up commands of the README: `make up` and `make test`.
.PHONY: up test install services browser lock

install:
	scripts/bootstrap

services:
	scripts/services

browser:
	scripts/browser

up: install
	.venv/bin/assistant up --demo

test: install services browser
	.venv/bin/python -m pytest -n 2 --dist loadgroup

lock:
	UV_PYTHON_DOWNLOADS=never uv pip compile pyproject.toml --extra dev --generate-hashes \
	  --python "$$(pyenv prefix 3.10)/bin/python" --python-platform x86_64-manylinux_2_28 \
	  --no-header -o requirements.lock
