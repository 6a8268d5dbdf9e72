"""The taxonomy build script reproduces the shipped index from the shared ESCO/O*NET files."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from core.settings import get_settings
from ops import taxonomy_build
from screening.index import DEFAULT_INDEX_PATH, IndexFormatError, TaxonomyIndex


def test_build_reproduces_the_shipped_index_byte_for_byte() -> None:
    datasets = get_settings().effective_datasets_dir
    if not (datasets / taxonomy_build.ESCO_DIR).is_dir():
        pytest.fail(
            f"taxonomy sources not found under {datasets}: set PVARA_DATASETS_DIR to the "
            "shared datasets folder (it must hold taxonomy/esco-v1.1.1 and taxonomy/onet-29.3)"
        )
    rebuilt = taxonomy_build.build(datasets)
    shipped = DEFAULT_INDEX_PATH.read_bytes()
    assert hashlib.sha256(rebuilt).hexdigest() == hashlib.sha256(shipped).hexdigest(), (
        "screening/data/taxonomy.tsv.gz is not what `python -m ops.taxonomy_build` builds"
    )


def test_missing_sources_fail_with_a_clear_message(tmp_path: Path) -> None:
    with pytest.raises(taxonomy_build.SourceMissingError, match="PVARA_DATASETS_DIR"):
        taxonomy_build.build(tmp_path)
    assert taxonomy_build.main(["--datasets", str(tmp_path), "--check"]) == 2


def test_an_index_of_another_format_is_refused(tmp_path: Path) -> None:
    import gzip

    path = tmp_path / "index.tsv.gz"
    path.write_bytes(gzip.compress(b"something-else\t9\n"))
    with pytest.raises(IndexFormatError):
        TaxonomyIndex.load(path)
