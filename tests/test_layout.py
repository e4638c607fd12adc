from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_top_level_packages_exist():
    for name in ["neurons", "protocol", "models", "execution_layer", "utils"]:
        assert (ROOT / name / "__init__.py").is_file(), name
