"""What the price catalog is: its package, version and how fresh its data is."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

PACKAGE = "genai-prices"


@dataclass(frozen=True)
class CatalogInfo:
    package: str
    version: str
    # The newest "verified on" date in the bundled data: how fresh its prices are.
    data_date: str | None
    # True when the prices come from a fetch the operator opted into (`--latest`).
    fetched: bool

    def as_dict(self) -> dict[str, Any]:
        return {"package": self.package, "version": self.version,
                "data_date": self.data_date, "fetched": self.fetched}

    def shown(self) -> str:
        where = "fetched at run time" if self.fetched else "bundled"
        return f"{self.package} {self.version} ({where} data, verified up to {self.data_date})"
