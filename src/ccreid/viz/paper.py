"""The paper's numbers (percent), stored once, with the table and row each comes from.

A row is identified by what a run's config says: CRE on or off, the attention module in
the slot, the triplet loss. Columns are (dataset, setting, metric) with the dataset named
as ``data.name`` is.
"""

from __future__ import annotations

from dataclasses import dataclass

Column = tuple[str, str, str]  # (dataset, setting, metric)


@dataclass(frozen=True)
class PaperRow:
    label: str
    cre: bool
    attention: str
    triplet: str
    values: tuple[float, ...]  # in the order of the table's columns


@dataclass(frozen=True)
class PaperTable:
    name: str
    caption: str
    columns: tuple[Column, ...]
    rows: tuple[PaperRow, ...]
    note: str = ""

    def paper_value(self, row: PaperRow, column: Column) -> float:
        return row.values[self.columns.index(column)]


_T4_COLUMNS = (
    ("prcc", "sc", "top1"), ("prcc", "sc", "mAP"), ("prcc", "cc", "top1"), ("prcc", "cc", "mAP"),
    ("vcclothes", "general", "top1"), ("vcclothes", "general", "mAP"),
    ("vcclothes", "cc", "top1"), ("vcclothes", "cc", "mAP"),
)  # fmt: skip
_T5_COLUMNS = (
    ("prcc", "cc", "top1"), ("prcc", "cc", "mAP"), ("vcclothes", "cc", "top1"), ("vcclothes", "cc", "mAP"),
)  # fmt: skip

TABLES: dict[str, PaperTable] = {
    "table3": PaperTable(
        "table3",
        "Table 3: NKUP (top-1/5/10; the paper gives no mAP)",
        (("nkup", "cc", "top1"), ("nkup", "cc", "top5"), ("nkup", "cc", "top10")),
        (
            PaperRow("baseline", False, "none", "bctri", (20.6, 29.1, 33.3)),
            PaperRow("baseline + BSGA", False, "bsga", "bctri", (22.1, 30.9, 36.7)),
            PaperRow("baseline + CRE", True, "none", "bctri", (23.0, 33.6, 40.0)),
        ),
        note="The paper does not say whether its NKUP baseline uses L_BCTri; our configs do. "
        "NKUP's clothes labels are the recording day (an assumption, see the loader).",
    ),  # fmt: skip
    "table4": PaperTable(
        "table4",
        "Table 4: ablation on PRCC and VC-Clothes",
        _T4_COLUMNS,
        (
            PaperRow(
                "baseline + L_BCTri",
                False,
                "none",
                "bctri",
                (99.5, 98.4, 47.2, 44.9, 91.6, 80.9, 74.7, 73.4),
            ),
            PaperRow(
                "+ CRE", True, "none", "bctri", (98.8, 96.0, 59.7, 56.8, 94.2, 85.7, 83.5, 81.7)
            ),
            PaperRow(
                "+ BSGA", False, "bsga", "bctri", (99.8, 98.4, 48.4, 46.7, 92.1, 81.5, 76.1, 75.0)
            ),
            PaperRow(
                "CRE + BSGA, no L_BCTri",
                True,
                "bsga",
                "none",
                (99.4, 97.5, 60.0, 56.3, 93.6, 85.4, 80.2, 79.7),
            ),
            PaperRow(
                "CRE + BSGA + L_BCTri",
                True,
                "bsga",
                "bctri",
                (99.6, 97.3, 61.8, 58.7, 94.4, 88.2, 84.5, 84.3),
            ),
        ),
    ),  # fmt: skip
    "table5": PaperTable(
        "table5",
        "Table 5: attention modules in the slot, clothes-changing setting",
        _T5_COLUMNS,
        (
            PaperRow("CRE (no attention)", True, "none", "bctri", (59.7, 56.8, 83.5, 81.7)),
            PaperRow("+ CBAM", True, "cbam", "bctri", (59.4, 57.6, 82.5, 82.3)),
            PaperRow("+ SE", True, "se", "bctri", (58.7, 57.4, 84.1, 82.1)),
            PaperRow("+ CIA", True, "cia", "bctri", (60.9, 57.8, 83.9, 82.7)),
            PaperRow("+ ECA", True, "eca", "bctri", (59.5, 55.8, 82.4, 81.1)),
            PaperRow("+ PSA", True, "psa", "bctri", (58.4, 55.2, 82.7, 82.6)),
            PaperRow("+ BSGA", True, "bsga", "bctri", (61.8, 58.7, 84.5, 84.3)),
        ),
    ),  # fmt: skip
    "table6": PaperTable(
        "table6",
        "Table 6: triplet losses, PRCC clothes-changing setting",
        (
            ("prcc", "cc", "top1"),
            ("prcc", "cc", "top5"),
            ("prcc", "cc", "top10"),
            ("prcc", "cc", "mAP"),
        ),
        (
            PaperRow("CRE + BSGA, no triplet", True, "bsga", "none", (60.0, 66.8, 70.1, 56.3)),
            PaperRow("+ L_Tri (batch hard)", True, "bsga", "tri", (61.1, 66.6, 68.6, 56.1)),
            PaperRow("+ L_BCTri", True, "bsga", "bctri", (61.8, 67.9, 70.7, 58.7)),
        ),
    ),  # fmt: skip
}
