.PHONY: install test lint bench-setup bench

install:
	pip install ".[test]"

test:
	pytest

lint:
	ruff check . && ruff format --check .

bench-setup:
	bash benchmarks/setup.sh

bench: bench-setup
	python -m benchmarks
