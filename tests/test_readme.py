"""The README stays true: its preset table is what `python -m modeling_tlm.preset_table` prints."""

from pathlib import Path

from modeling_tlm.preset_table import preset_table

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_preset_table_matches_the_command():
    assert preset_table() in README.read_text(), "README's preset table is stale: paste `python -m modeling_tlm.preset_table`"
