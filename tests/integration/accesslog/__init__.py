import pytest

# Assertion helpers shared by the modules here: show diffs when they fail.
pytest.register_assert_rewrite("tests.integration.accesslog.workload")
