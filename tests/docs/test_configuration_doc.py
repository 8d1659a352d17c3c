"""docs/configuration.md names every setting a service reads."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic_settings import BaseSettings

from docpipe.common.settings import CommonSettings
from docpipe.processor.config import ProcessorSettings
from docpipe.query.config import QuerySettings
from docpipe.upload.config import UploadSettings

DOC = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"


@pytest.mark.parametrize(
    "settings",
    [CommonSettings, UploadSettings, ProcessorSettings, QuerySettings],
    ids=lambda s: s.__name__,
)
def test_every_setting_is_documented(settings: type[BaseSettings]) -> None:
    text = DOC.read_text()
    missing = [
        name
        for name, field in settings.model_fields.items()
        if f"`{(field.alias or name).upper()}`" not in text
    ]
    assert not missing, f"add these to docs/configuration.md: {missing}"
